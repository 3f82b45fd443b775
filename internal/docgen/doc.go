// Package docgen generates vmlua's API reference and editor definitions
// from the modules' own registration (runtime.Module, transports.Scheme),
// as govc's USAGE.md is generated from its commands, so that the docs
// cannot drift from the code:
//
//   - docs/lua-api.md: every module, function, object type, field and
//     method, the error codes and the sandbox's libraries;
//   - docs/transports.md: every transport scheme with its URL and options;
//   - editor/vmlua.d.lua and editor/library/*.lua: lua-language-server
//     definitions (---@meta) for completion and type checks in VS Code and
//     Neovim.
//
// 'go run ./cmd/vmlua docs' writes them; a test fails when a committed
// file differs from what Generate produces.
package docgen

//go:generate go run ../../cmd/vmlua docs --out ../..
