// Package oneline renders text vmlua does not control (a script's error
// message, a chunk name given to load, a VM name from vSphere, a result a
// script recorded) as one line that a terminal, a cron mail or the journal
// shows as it is: control characters are escaped, so that a newline in an
// error message cannot forge a second log line and an ANSI escape sequence
// cannot repaint the screen.
package oneline
