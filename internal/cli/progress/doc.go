// Package progress renders the byte counts of long operations (exports,
// uploads, restores) for a person: one live bar per running operation on a
// terminal (github.com/vbauerster/mpb), and plain, periodic lines when the
// output is not a terminal (cron mail, CI logs, journald). Sink implements
// runtime.Progress and is safe for concurrent operations.
package progress
