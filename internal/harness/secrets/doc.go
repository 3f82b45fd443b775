// Package secrets is the secrets scan: it runs vmlua's main scenarios as
// the CLI runs them, with recognisable passwords, and fails if any
// password appears in what vmlua prints (text and JSON logs, errors, help)
// or writes (sets, catalogs, restored files).
package secrets
