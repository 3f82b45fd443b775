// Package scripts holds vmlua's shipped Lua scripts (the *.lua files beside
// this one), which users run as they are: 'vmlua run scripts/NAME.lua'.
// There is no Go code here; the package's tests run each script against
// the embedded vSphere simulator exactly as a user would.
package scripts
