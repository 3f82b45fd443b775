// Package internal holds vmlua's internal packages, on three floors, each
// allowed to import only the floors below it (layers_test.go checks it):
//
//   - internal/<pkg>: libraries with one job each (capread, datastore,
//     dsread, fleet, nbd, pcomp, spansum, sparse, taskwait, thumbprint, vmdk,
//     vmxfmt, redact, and vsim, the embedded simulator). They import no vmlua package outside
//     this floor: not runtime, modules, transports, nor the floors above.
//   - internal/cli/<pkg>: helpers of the vmlua command (config, docgen,
//     logattr, progress). They may import runtime and transports, never a
//     module's package nor a harness.
//   - internal/harness/<pkg>: test harnesses that sit above the modules
//     (simtest, testservers, eventually) and the cross-module batteries (faultmatrix,
//     hostile, soak, secrets). Only test files import them.
package internal
