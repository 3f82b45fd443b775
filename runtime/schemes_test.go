package runtime

// Grants take scheme facts (aliases, default ports, the vmfs bracket
// form) from the transports' registrations, as the vmlua binary does.
import _ "github.com/vmlua/vmlua/transports/all"
