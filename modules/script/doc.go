// Package script is the Lua module "script": what a script says about
// itself to the host that runs it — the key=value arguments it takes
// (declared, typed, with help, so that a typo fails with "did you mean"),
// the exit status it ends with, and the result rows that 'vmlua run --json'
// prints.
//
//	local script = require "script"
//	local a = script.args{
//	  to   = { required = true, help = "target URL" },
//	  keep = { type = "number", default = 4, help = "sets to keep" },
//	}
//	script.result{ vm = "DB01", status = "ok", bytes = 123 }
//	if skipped > 0 then script.status("partial") end
//
// The state lives in the run (runtime.Run.SetStatus, Exit, AddResult);
// this package is only the Lua face of it.
package script
