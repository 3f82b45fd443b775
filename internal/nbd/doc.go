// Package nbd is a small read-only server of the Network Block Device
// protocol (the NetworkBlockDevice project's doc/proto.md), for vmlua
// serve nbd: exports are an io.ReaderAt and a map of zero areas each,
// chosen by name. It speaks the fixed newstyle handshake (NBD_OPT_GO,
// NBD_OPT_INFO, NBD_OPT_EXPORT_NAME, NBD_OPT_LIST, structured replies,
// the base:allocation metadata context, NBD_OPT_STARTTLS) and serves
// NBD_CMD_READ (zero areas as holes in structured replies, a failed read
// as an error at its offset with its message), NBD_CMD_BLOCK_STATUS and
// NBD_CMD_CACHE; writes, trims and write-zeroes get EPERM. Requests of a
// connection are served concurrently (up to 16), so are connections
// (exports advertise multi-conn). With Server.TLS set, a client must
// start TLS before anything else.
//
// No maintained Go library serves block status and structured replies
// (pojntfx/go-nbd serves the baseline protocol only), hence this one;
// qemu-img, nbdinfo and nbdcopy are its test clients.
package nbd
