package runtime

// Version is vmlua's version, printed by 'vmlua version' and written into
// every backup catalog.
var Version = "0.1.0-dev"
