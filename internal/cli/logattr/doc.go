// Package logattr is a slog handler wrapper that gives every record each
// attribute key once. slog's handlers write what they are given: a logger
// made With("vm", name) (a fleet run per VM) whose records also carry
// "vm" (every vm module record does) wrote `"vm":"DB01","vm":"DB01"`, a
// JSON object with a duplicate key that log stores refuse. The wrapper
// keeps the With attributes itself and merges them with each record's:
// a record's own value wins over the logger's, and within a record the
// last value of a key wins. An attribute named as one of the keys the
// handler writes itself (level, msg, time, source) becomes attr_KEY.
package logattr
