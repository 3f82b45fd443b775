package scripts

import "embed"

// Files holds the shipped scripts, so that an installed vmlua binary can
// run them (vmlua demo writes them next to its output for users to adapt).
//
//go:embed *.lua
var Files embed.FS
