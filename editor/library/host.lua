---@meta host
-- Lets lua-language-server resolve require "host" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.host
local host

return host
