// Package docgen generates vmlua's API and command-line references and
// editor definitions from the modules', transports' and commands' own
// registration (runtime.Module, transports.Scheme, cmd/vmlua's verbs),
// as govc's USAGE.md is generated from its commands, so that the docs
// cannot drift from the code:
//
//   - docs/lua-api.md: every module, function, object type, field and
//     method, the error codes and the sandbox's libraries;
//   - docs/transports.md: every transport scheme with its URL and options;
//   - docs/cli.md: every vmlua command with its usage and flags (CLI, from
//     the Verb list cmd/vmlua builds from its verbs);
//   - editor/vmlua.d.lua and editor/library/*.lua: lua-language-server
//     definitions (---@meta) for completion and type checks in VS Code and
//     Neovim.
//
// 'go run ./cmd/vmlua docs' writes them; a test fails when a committed
// file differs from what Generate produces.
package docgen

//go:generate go run ../../cmd/vmlua docs --out ../..
