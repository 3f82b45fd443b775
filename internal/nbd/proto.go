package nbd

// Constants of the NBD protocol (the NetworkBlockDevice project's
// doc/proto.md): the fixed newstyle handshake, its options and replies,
// the transmission phase's requests, simple and structured replies, and
// the base:allocation metadata context.
const (
	nbdMagic      = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic      = 0x49484156454f5054 // "IHAVEOPT"
	optReplyMagic = 0x0003e889045565a9
	requestMagic  = 0x25609513
	simpleMagic   = 0x67446698
	structMagic   = 0x668e33ef

	// handshake flags (server) and client flags
	flagFixedNewstyle  = 1 << 0
	flagNoZeroes       = 1 << 1
	flagCFixedNewstyle = 1 << 0
	flagCNoZeroes      = 1 << 1

	// options
	optExportName      = 1
	optAbort           = 2
	optList            = 3
	optStartTLS        = 5
	optInfo            = 6
	optGo              = 7
	optStructuredReply = 8
	optListMetaContext = 9
	optSetMetaContext  = 10

	// option replies
	repAck         = 1
	repServer      = 2
	repInfo        = 3
	repMetaContext = 4
	repErrUnsup    = 1<<31 + 1
	repErrPolicy   = 1<<31 + 2
	repErrInvalid  = 1<<31 + 3
	repErrTLSReqd  = 1<<31 + 5
	repErrUnknown  = 1<<31 + 6
	repErrTooBig   = 1<<31 + 9

	// information types of NBD_REP_INFO
	infoExport      = 0
	infoName        = 1
	infoDescription = 2
	infoBlockSize   = 3

	// transmission flags
	flagHasFlags     = 1 << 0
	flagReadOnly     = 1 << 1
	flagSendDF       = 1 << 7
	flagCanMultiConn = 1 << 8
	flagSendCache    = 1 << 10

	// commands
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdCache       = 5
	cmdWriteZeroes = 6
	cmdBlockStatus = 7

	// command flags
	cmdFlagDF     = 1 << 2
	cmdFlagReqOne = 1 << 3

	// structured reply flags and types
	replyFlagDone         = 1 << 0
	replyTypeNone         = 0
	replyTypeOffsetData   = 1
	replyTypeOffsetHole   = 2
	replyTypeBlockStatus  = 5
	replyTypeError        = 1<<15 + 1
	replyTypeErrorOffset  = 1<<15 + 2
	stateHole             = 1 << 0
	stateZero             = 1 << 1
	baseAllocation        = "base:allocation"
	baseAllocationContext = 1 // the context id this server gives it

	// errors
	errPerm     = 1
	errIO       = 5
	errInval    = 22
	errOverflow = 75
	errShutdown = 108
)
