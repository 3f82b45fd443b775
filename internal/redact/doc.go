// Package redact removes secrets from what vmlua prints, by where they
// are, never by what they are: the password of a URL's userinfo
// (https://root:xxxxx@vc/sdk), the value of a field named like a credential
// (password=, "token":, an attribute db_password), an Authorization or
// Cookie header, and the credential fields of a Go value. It never searches
// text for a configured password's value: with the password "backup",
// searching turned "backup_all.lua failed" into "xxxxx_all.lua failed",
// garbling every log line and telling any reader the password.
//
// Text, Key and Value are the rules; Handler applies them to every record
// of a slog handler (its message and every attribute).
package redact
