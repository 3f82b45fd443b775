---@meta question
-- Lets lua-language-server resolve require "question" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs

---@type vmlua.question
local question

return question
