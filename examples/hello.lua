-- hello.lua: the smallest vmlua script.
--   vmlua run examples/hello.lua name=world
-- Arguments: positional ones are arg[1], arg[2], ...; key=value ones are arg.key.
local log = require "log"

local name = arg.name or "vmlua"
log.info("hello, " .. name, { script = "hello.lua", args = #arg })
print(string.format("Hello, %s! It is %s.", name, os.date("!%Y-%m-%d %H:%M UTC")))
