---@meta vm
-- Lets lua-language-server resolve require "vm" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.vm
local vm

return vm
