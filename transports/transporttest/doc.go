// Package transporttest is the one conformance suite every transport
// passes (restic's internal/backend/test). A transport's own test gives Run
// a Target — a constructor for a transport rooted at a fresh, empty
// directory on a real server, and optionally a way to kill that server and
// a nearly-full target — and the suite checks, one behaviour per subtest:
// big opaque streams with sha256, empty files, unicode names, nested
// directories, Rename replacing, big listings, Open at an offset,
// fs.ErrNotExist, Remove, path traversal refused with ErrOutsideRoot, and
// that cancelled, failed, killed or out-of-space uploads leave nothing that
// looks complete. Bench measures Upload throughput from an opaque reader.
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, transporttest.Target{
//			Name: "sftp",
//			New:  func(t *testing.T) transports.Transport { ... },
//			Kill: func(tb testing.TB) { srv.Kill() },
//		})
//	}
//
// A case the Target cannot support (no Kill, no Full) is logged as not run;
// nothing in the suite skips silently.
package transporttest
