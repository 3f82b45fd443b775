-- hello.lua: the smallest vmlua script.
--   vmlua run examples/hello.lua name=world
-- Arguments: a script declares the key=value ones it takes with script.args,
-- so that a typo (nmae=world) fails with "did you mean name?" instead of
-- being ignored; positional ones are a[1], a[2], ...
local log = require "log"
local script = require "script"

local a = script.args {
  name = { default = "vmlua", help = "whom to greet" },
}
log.info("hello, " .. a.name, { script = "hello.lua", args = #a })
print(string.format("Hello, %s! It is %s.", a.name, os.date("!%Y-%m-%d %H:%M UTC")))
