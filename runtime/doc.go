// Package runtime is vmlua's Lua host. It builds one sandboxed gopher-lua
// state per script run and keeps the run's state in one value, *Run, that
// every module function receives: the context (wall-clock limit, signals),
// the operator's grants, the cleanup stack, the logger (secrets redacted),
// the dry-run flag and the progress sink. There are no globals.
//
// The sandbox gives a script base (without dofile, loadfile, getfenv,
// setfenv, module; load compiles source only), table, string (rep, format,
// concat and pattern matching bounded), math, os.time/date/clock/difftime
// and coroutine, plus vmlua's modules through require. The guarantees and
// the known limits are written down in docs/security.md.
//
// Modules describe themselves (Module, Func, Type): the Lua API reference,
// the editor definitions and 'vmlua check' are generated from those values.
package runtime
