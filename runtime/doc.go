// Package runtime is vmlua's Lua host. It builds one sandboxed gopher-lua
// state per script run and keeps the run's state in one value, *Run, that
// every module function receives: the context (wall-clock limit, signals),
// the operator's grants, the cleanup stack, the logger (secrets masked where
// they are written, package internal/redact), the dry-run flag and the
// progress sink. There are no globals.
//
// The sandbox gives a script base (without dofile, loadfile, getfenv,
// setfenv, module; load compiles source only), table, string, math,
// os.time/date/clock/difftime and coroutine, plus vmlua's modules through
// require. Every function whose work grows with an argument inside one Go
// call is bounded or watches the run's context (bounded.go, chunk.go,
// patterns.go, the string limits in sandbox.go); and whatever call a script
// is stuck in, a stopped run runs its cleanup after Options.StopGrace
// (watchdog.go). The guarantees and the known limits are written down in
// docs/security.md.
//
// Modules describe themselves (Module, Func, Type): the Lua API reference,
// the editor definitions and 'vmlua check' are generated from those values.
package runtime
