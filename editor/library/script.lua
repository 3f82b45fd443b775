---@meta script
-- Lets lua-language-server resolve require "script" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.script
local script

return script
