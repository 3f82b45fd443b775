---@meta notify
-- Lets lua-language-server resolve require "notify" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.notify
local notify

return notify
