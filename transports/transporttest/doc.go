// Package transporttest is the one conformance suite every transport
// passes (restic's internal/backend/test). A transport's own test gives Run
// a Target — how to make a fresh, empty directory on a real server and
// open it by URL (Fresh), and optionally a way to kill that server and a
// nearly-full target — and the suite checks, one behaviour per subtest:
// big opaque streams with sha256, empty files, unicode names, nested
// directories, Rename replacing, big listings, Open at an offset,
// fs.ErrNotExist, Remove, path traversal refused with ErrOutsideRoot, that
// cancelled, failed, killed or out-of-space uploads leave nothing that
// looks complete, CreateExclusive (alone, through the wrappers, and 16
// callers on their own connections racing for one name, round after
// round: exactly one wins), create=false and create=true when opening a
// URL, and that a directory or a named pipe is refused at once, never
// read. Bench measures Upload throughput from an opaque reader.
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, transporttest.Target{
//			Name:  "sftp",
//			Fresh: func(t *testing.T) transporttest.Fresh { ... URL, options, local dir ... },
//			Kill:  func(tb testing.TB) { srv.Kill() },
//		})
//	}
//
// A case the Target cannot support (no Kill, no Full, no local directory
// to make a named pipe in) is logged as not run, with the reason; nothing
// in the suite skips silently.
package transporttest
