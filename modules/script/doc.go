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
//	  vm   = { each = true, help = "one VM (vmlua run --each sets it)" },
//	  allow_empty = { type = "boolean", default = false },
//	}
//	if #vms == 0 then script.nothing_selected("no VM matches " .. spec) end
//	script.result{ vm = "DB01", status = "ok", bytes = 123 }
//	if skipped > 0 then script.status("partial") end
//
// A run given an argument the script does not declare ends with exit
// status 2 (usage) and "did you mean"; nothing_selected ends it with 6, or
// 0 under allow_empty=true. ForEach reads, from a script's source before it
// runs, whether it is written for 'vmlua run --each' (vm declared with
// each = true).
//
// The state lives in the run (runtime.Run.SetStatus, Exit, AddResult);
// this package is only the Lua face of it.
package script
