---@meta transport
-- Lets lua-language-server resolve require "transport" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.transport
local transport

return transport
