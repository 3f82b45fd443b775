---@meta backup
-- Lets lua-language-server resolve require "backup" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.backup
local backup

return backup
