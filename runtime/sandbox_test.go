package runtime_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/runtime"
)

// TestHostileScripts is the sandbox's battery: each script tries to get out
// of the sandbox or to take the host down, and must be refused with a
// clear error while the test process (the host) keeps running.
func TestHostileScripts(t *testing.T) {
	const secret = "Sup3r-S3cret-PW"
	short := func(o *runtime.Options) { o.Timeout = 300 * time.Millisecond }
	withSecret := func(o *runtime.Options) {
		o.Endpoints = map[string]runtime.Endpoint{"vc": {Name: "vc", URL: "https://vc/sdk", Username: "admin", Password: secret}}
		o.DefaultEndpoint = "vc"
	}
	cases := []struct {
		name     string
		script   string
		opts     func(*runtime.Options)
		wantCode string
		wantMsg  string
	}{
		{"reading a file with io.open is refused", `io.open("/etc/passwd"):read("*a")`, nil, "sandbox", "io.open is not available"},
		{"writing a file with io.output is refused", `io.output("/tmp/x")`, nil, "sandbox", "io.output is not available"},
		{"running a command with os.execute is refused", `os.execute("touch /tmp/pwned")`, nil, "sandbox", "os.execute is not available"},
		{"os.exit cannot end the host", `os.exit(3)`, nil, "sandbox", "os.exit is not available"},
		{"reading the environment with os.getenv is refused", `return os.getenv("HOME")`, nil, "sandbox", "os.getenv is not available"},
		{"removing a file with os.remove is refused", `os.remove("/tmp/x")`, nil, "sandbox", "os.remove is not available"},
		{"renaming a file with os.rename is refused", `os.rename("/a", "/b")`, nil, "sandbox", "os.rename is not available"},
		{"os.tmpname is refused", `os.tmpname()`, nil, "sandbox", "os.tmpname is not available"},
		{"setting the environment with os.setenv is refused", `os.setenv("PATH", "/tmp")`, nil, "sandbox", "os.setenv is not available"},
		{"loading bytecode with load is refused", `load("\27LuaQ\0\1\4\8\4\8\0")`, nil, "sandbox", "precompiled Lua bytecode"},
		{"loading bytecode with loadstring is refused", `loadstring("\27Lua")`, nil, "sandbox", "precompiled Lua bytecode"},
		{"loading bytecode through a reader function is refused", `local n=0; load(function() n=n+1; if n==1 then return "\27Lua" end end)`, nil, "sandbox", "precompiled Lua bytecode"},
		{"dofile is refused", `dofile("/etc/passwd")`, nil, "sandbox", "dofile is not available"},
		{"loadfile is refused", `loadfile("/etc/passwd")`, nil, "sandbox", "loadfile is not available"},
		{"require of a relative path is refused", `require "../../etc/passwd"`, nil, "sandbox", "not a module name"},
		{"require of an absolute path is refused", `require "/etc/passwd"`, nil, "sandbox", "not a module name"},
		{"require of a standard C module finds nothing", `require "socket"`, nil, "not_found", "no such vmlua module"},
		{"package.loadlib is refused", `package.loadlib("/lib/x86_64-linux-gnu/libc.so.6", "system")`, nil, "sandbox", "package.loadlib is not available"},
		{"the debug library is refused", `debug.getinfo(1)`, nil, "sandbox", "debug.getinfo is not available"},
		{"debug.setmetatable on strings is refused", `debug.setmetatable("", {__index = function() end})`, nil, "sandbox", "debug.setmetatable is not available"},
		{"string.rep of a gigabyte is refused", `local s = string.rep("x", 1024*1024*1024)`, nil, "sandbox", "string.rep would build"},
		{"string.rep through the string metatable is refused", `local s = ("ab"):rep(2^31)`, nil, "sandbox", "string.rep would build"},
		{"a backtracking pattern bomb is refused", `local s = string.rep("a", 100000); s:find(".-.-.-.-b")`, nil, "sandbox", "pattern too expensive"},
		{"a pattern that would recurse past the Go stack is refused", `local s = string.rep("a", 3000000); s:match(".*")`, nil, "sandbox", "pattern too expensive"},
		{"gsub with a bomb pattern is refused", `string.rep("a", 50000):gsub("(.-)-(.-)-(.-)b", "x")`, nil, "sandbox", "pattern too expensive"},
		{"a pattern longer than the limit is refused", `("a"):find(string.rep("a?", 3000))`, nil, "sandbox", "longer than the sandbox's limit"},
		{"string.format with a huge width is refused", `string.format("%99999999d", 1)`, nil, "sandbox", "string.format would build"},
		{"table.concat of a huge result is refused", `local s = string.rep("x", 1024*1024); local t = {}; for i = 1, 100 do t[i] = s end; table.concat(t)`, nil, "sandbox", "table.concat would build"},
		{"deep recursion ends in a stack overflow error", `local function f(n) return f(n + 1) + 1 end; f(1)`, nil, "error", "stack overflow"},
		{"an endless loop is stopped by the timeout", `while true do end`, short, "timeout", "longer than its --timeout"},
		{"an endless loop inside a coroutine is stopped by the timeout", `coroutine.wrap(function() while true do end end)()`, short, "timeout", "longer than its --timeout"},
		{"an endless resume/yield loop is stopped by the timeout", `local co = coroutine.create(function() while true do coroutine.yield() end end); while true do coroutine.resume(co) end`, short, "timeout", "longer than its --timeout"},
		{"an endless loop in pcall cannot swallow the timeout", `while true do pcall(function() while true do end end) end`, short, "timeout", "longer than its --timeout"},
		{"a string metatable trick still meets the sandbox", `getmetatable("").__index = function(s, k) return os.exit end; ("x"):boom()`, nil, "sandbox", "os.exit is not available"},
		{"a _G metatable cannot bring io back", `setmetatable(_G, {__index = function() return nil end}); io.open("/etc/passwd")`, nil, "sandbox", "io.open is not available"},
		{"setfenv is refused", `setfenv(1, {})`, nil, "sandbox", "setfenv is not available"},
		{"getfenv to reach hidden functions is refused", `local env = getfenv(print); return env.io`, nil, "sandbox", "getfenv is not available"},
		{"module() is refused", `module("evil")`, nil, "sandbox", "module is not available"},
		{"newproxy is refused", `newproxy(true)`, nil, "sandbox", "newproxy is not available"},
		{"an error value cannot leak a password where passwords are written", `local t = require "testmod"; t.fail("` + secret + `")`, withSecret, "vsphere", "login to https://admin:xxxxx@vc/sdk failed (password=xxxxx)"},
		{"an error string cannot leak a password where passwords are written", `error("connect to sftp://backup:` + secret + `@nas failed; password=` + secret + `")`, withSecret, "error", "connect to sftp://backup:xxxxx@nas failed; password=xxxxx"},
		{"an error object whose __tostring loops cannot hang the host", `error(setmetatable({}, {__tostring = function() while true do end end}))`, nil, "error", "error object is a table value"},
		{"a transport URL that was not granted is refused", `local t = require "testmod"; t.granted("sftp://backup@nas/backups/db01")`, nil, "not_granted", "--allow sftp://backup@nas/backups/db01"},
		{"a URL escaping its grant by case and dot-segments is refused", `local t = require "testmod"; t.granted("file:///srv/backup/../etc")`, func(o *runtime.Options) { _ = o.Grants.Allow("file:///srv/backup/") }, "invalid_argument", "'..' is not allowed"},
		{"a URL with another user than its grant is refused", `local t = require "testmod"; t.granted("sftp://root@nas/backups/x")`, func(o *runtime.Options) { _ = o.Grants.Allow("sftp://backup@nas/backups/") }, "not_granted", "not granted"},
		{"a memory bomb is stopped by the memory limit", `local t = {}; for i = 1, 100000 do t[i] = string.rep("x", 1024*1024) .. i end`, func(o *runtime.Options) { o.Limits.MemoryBytes = 512 << 20 }, "sandbox", "memory limit"},
	}
	if len(cases) < 40 {
		t.Fatalf("the battery has %d cases; the sandbox promises at least 40", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, tc.script, tc.opts)
			if res.err == nil {
				t.Fatalf("script succeeded; want a %s error containing %q", tc.wantCode, tc.wantMsg)
			}
			if got := res.code(); got != tc.wantCode {
				t.Errorf("code = %q, want %q (error: %v)", got, tc.wantCode, res.err)
			}
			if !strings.Contains(res.err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", res.err, tc.wantMsg)
			}
			if strings.Contains(res.err.Error(), "Sup3r-S3cret-PW") || strings.Contains(res.log+res.stdout, "Sup3r-S3cret-PW") {
				t.Errorf("the configured password leaked: error=%q log=%q", res.err, res.log)
			}
			if strings.Count(res.err.Error(), "\n") > 0 {
				t.Errorf("error is not one line: %q", res.err)
			}
		})
	}
}

// TestSandboxKeepsTheUsefulParts: the sandbox must not break ordinary
// scripts.
func TestSandboxKeepsTheUsefulParts(t *testing.T) {
	cases := []struct{ name, script, wantLog string }{
		{"string functions", `print(("%s-%03d"):format("db", 7), ("abc"):upper(), #("x"):rep(10, ""))`, "db-007\tABC\t10"},
		{"find with captures", `print(string.find("scsi0:1.mode = persistent", "(%w+):(%d)"))`, "1\t7\tscsi0\t1"},
		{"plain find", `print(("a.b"):find(".", 1, true))`, "2\t2"},
		{"match with anchors", `print(string.match("  DB01  ", "^%s*(.-)%s*$"))`, "DB01"},
		{"gmatch over key=value", `local t = {} for k, v in ("a=1,b=2"):gmatch("(%w+)=(%w+)") do t[#t+1] = k .. v end print(table.concat(t, ";"))`, "a1;b2"},
		{"gsub with a table and a function", `print((("$a $b"):gsub("%$(%w+)", {a = "x"})), (("abc"):gsub("%w", function(c) return c:upper() end)))`, "x $b\tABC"},
		{"gsub with %0 and a limit", `print(("aaa"):gsub("a", "<%0>", 2))`, "<a><a>a\t2"},
		{"os.time and os.date", `print(os.date("!%Y", 0), type(os.time()), type(os.clock()))`, "1970\tnumber\tnumber"},
		{"math and table", `local t = {3, 1, 2}; table.sort(t); print(t[1], math.max(4, 9), math.floor(2.5))`, "1\t9\t2"},
		{"coroutines", `local co = coroutine.wrap(function() coroutine.yield(1); coroutine.yield(2) end); print(co(), co())`, "1\t2"},
		{"pcall returns structured errors", `local ok, e = pcall(function() error({code = "x", message = "m"}) end); print(ok, e.code, e.message)`, "false\tx\tm"},
		{"load compiles source", `print(load("return 6 * 7")())`, "42"},
		{"string.len on a long string", `print(#string.rep("ab", 1000000))`, "2000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, tc.script, nil)
			if res.err != nil {
				t.Fatalf("script failed: %v", res.err)
			}
			if !slices.Contains(res.printed(), tc.wantLog) {
				t.Errorf("printed %q, want a line %q", res.printed(), tc.wantLog)
			}
		})
	}
}
