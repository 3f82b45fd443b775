// Package notify is the Lua module "notify": a run's summary sent to the
// destinations the operator configured in the config file's [notify]
// section, never to ones a script chooses freely.
//
// Mail over SMTP ([notify.mail]): STARTTLS is required (or TLS from the
// first byte with tls = "implicit", port 465), the server's certificate is
// verified (system roots plus ca_file), AUTH with named credentials; sent
// with github.com/wneessen/go-mail. Webhooks ([notify.webhook.NAME]): an
// HTTP POST of the summary as JSON (Payload), with an optional bearer
// token, basic auth or token header from named credentials. A script may
// add a URL of its own only when the operator granted it (--allow, [grants]
// allow), as for transports.
//
//	local notify = require "notify"
//	notify.send({subject = "nightly: 2 of 40 VMs failed", status = "failed",
//	             text = summary, details = rows}, {when = arg.notify})
//
// A delivery that fails is a WARN in the log and an entry of the result
// with ok=false: it never raises, so the run's exit status stays the one
// its backups earned. Webhook URLs (which often carry a token), tokens and
// the SMTP password are never written (package internal/redact masks
// secrets where they are written, never by searching for their value): a
// webhook is named by its config name and scheme://host only, net/http's
// errors lose the URL they carry, and the message's text is masked as log
// lines are.
// With no [notify] configured, send does nothing and says so at debug
// level. In a dry run nothing is sent.
package notify
