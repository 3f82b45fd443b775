// Package secrets is the secrets scan: it runs vmlua's main scenarios as
// the CLI runs them, with recognisable passwords, and fails if any
// password appears in what vmlua prints (text and JSON logs, errors, help)
// or writes (sets, catalogs, restored files). With passwords that are
// common words ("backup", "vm", "disk", "a") it checks instead that the
// output is intact and that no password is where passwords are written
// (URL userinfo, fields named like a credential): vmlua masks secrets by
// structure, never by searching for their text.
package secrets
