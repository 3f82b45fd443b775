---@meta log
-- Lets lua-language-server resolve require "log" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.log
local log

return log
