-- hello.lua: the smallest vmlua script.
--   vmlua run examples/hello.lua name=world
-- Arguments: a script declares the key=value ones it takes with script.args,
-- so that a typo (nmae=world) fails with "did you mean name?" instead of
-- being ignored. It takes none by position unless its spec lists them
-- ({ "name", name = {...} } would let "hello.lua world" set a.name): a
-- positional argument it has no place for fails the same way.
local log = require "log"
local script = require "script"

local a = script.args {
  name = { default = "vmlua", help = "whom to greet" },
}
log.info("hello, " .. a.name, { script = "hello.lua", args = #a })
print(string.format("Hello, %s! It is %s.", a.name, os.date("!%Y-%m-%d %H:%M UTC")))
