// Package smb is the smb:// (alias cifs://) transport: SMB 2/3 file shares
// (Samba, Windows, NAS appliances) through github.com/cloudsoda/go-smb2.
//
// URL form:
//
//	smb://[domain;]user@host[:port]/share/path
//
// The port defaults to 445. The user (and domain) may instead come from the
// named credentials; the password always comes from the credentials, never
// from the URL.
//
// Auth: NTLMv2 (user, password, domain). The client negotiates up to SMB
// 3.1.1, signs every message when the server requires signing (Windows 11
// 24H2 and Server 2025 do by default) and encrypts when the share requires
// it ("smb encrypt = required"). A refused password is reported as
// transports.ErrAuth; a share that does not exist is reported by name.
//
// Uploads: Create returns a Writer that fills fixed-size chunks and writes
// them with several WriteAt calls in flight at once, so memory stays bounded
// (Params "chunk" × ("inflight" + 2), 16 MiB by default) whatever the size of
// the stream. Rename replaces an existing destination file.
//
// Params: "chunk" (bytes per write request, default 1 MiB), "inflight"
// (concurrent writes per stream, default 4) and "create" (default true:
// make the URL's folder in the share when missing; false refuses it).
//
// Open refuses a directory (transports.ErrNotRegular). Samba shows a named
// pipe or device as an ordinary file and opens it, but refuses every read
// at once ("permission denied"), which the error then explains. NT status
// codes are mapped for transports.Classify (name invalid or too long, is a
// directory, not a directory, not empty, write protected, disk full).
//
// Exclusive create (transports.ExclusiveCreator, the backup lock): a guard
// folder made with the FILE_CREATE disposition, which the server refuses
// (STATUS_OBJECT_NAME_COLLISION) when anything is there
// (transports.CreateExclusiveGuarded). FILE_CREATE on the lock itself
// would leave it empty until its bytes arrive, and go-smb2's rename always
// replaces.
package smb
