// Package log is the Lua module "log": structured log lines from scripts,
// written through the run's log/slog logger (human text on a terminal, JSON
// with --log-format json; secrets are masked where they are written: a
// URL's password, a field named like a credential).
//
//	local log = require "log"
//	log.info("backup done", {vm = v.name, bytes = set.bytes})
package log
