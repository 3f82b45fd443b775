package notify

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/redact"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "notify" Lua module.
var Module = &runtime.Module{
	Name:    "notify",
	Summary: "A run's summary by mail (SMTP with STARTTLS) and to webhooks (a JSON POST), to the destinations the operator configured in [notify].",
	Doc: "The destinations come from the config file's `[notify]` section (docs/config.md), never from the script: " +
		"`[notify.mail]` (SMTP with STARTTLS and AUTH, the certificate verified) and `[notify.webhook.NAME]` (an HTTP POST of the summary as JSON: " +
		"`{subject, status, text, details, host, time, vmlua}`). A script may add a webhook URL of its own only when the operator granted it (`--allow`). " +
		"A delivery that fails is logged as a WARN and returned with ok=false; it never raises, so the run's exit status stays the one its work earned. " +
		"Webhook URLs (which often carry a token), tokens and the SMTP password are never written: not in a log line, an error or a message; a webhook is shown by its name and `scheme://host/…`, " +
		"and the message's text is masked as log lines are (URL passwords, fields named like credentials). " +
		"With no `[notify]` configured nothing is sent. In a dry run nothing is sent either: the log says what would be.",
}

func init() {
	Module.Funcs = []runtime.Func{
		{Name: "configured", Returns: "boolean", Doc: "Returns true when the operator configured a destination (mail or a webhook) in [notify].", Fn: luaConfigured},
		{Name: "send", Args: []runtime.Arg{
			{Name: "message", Type: "table", Doc: "the summary", Options: []runtime.Option{
				{Name: "subject", Type: "string", Doc: "one line: the mail's subject (required)"},
				{Name: "status", Type: "string", Default: `"ok"`, Doc: `how the run went: "ok", "partial", "failed", "nothing_selected", ...`},
				{Name: "text", Type: "string", Doc: "the body: the summary as the script printed it"},
				{Name: "details", Type: "any", Doc: "any value JSON can hold (a list of per-VM rows, totals): the webhook's details, and indented JSON in the mail"},
			}},
			{Name: "options", Type: "table", Optional: true, Doc: "when and where", Options: []runtime.Option{
				{Name: "when", Type: "string", Enum: []string{"always", "failure", "never"}, Default: `"always"`, Doc: `"failure" sends only a status other than "ok" (failed, partial, nothing_selected); "never" sends nothing`},
				{Name: "webhook", Type: "string", Doc: "also POST to this http(s) URL, which the operator must have granted (--allow); else not_granted"},
				{Name: "credentials", Type: "string", Doc: "named credentials for webhook=: the password is sent as a bearer token (with user: basic auth)"},
			}},
		}, Returns: "table",
			Doc: "Sends the summary to every configured destination (and webhook=) and returns {sent=, failed=, results={{to=, ok=, error=}, ...}}, with skipped= saying why when nothing was sent " +
				"(\"when\", \"not configured\", \"dry run\"). Each destination is tried once, bounded by a timeout (30 s); a failure is a WARN and ok=false, never an error. " +
				"Raises invalid_argument for a malformed message or option and not_granted for a webhook= URL the operator did not grant.", Fn: luaSend},
	}
}

func luaConfigured(r *runtime.Run, L *lua.LState) int {
	L.Push(lua.LBool(configOf(r).Configured()))
	return 1
}

// dest is one delivery of a send.
type dest struct {
	to   string // how it is named: "mail", "webhook:NAME"
	send func(ctx context.Context, p Payload) error
}

func luaSend(r *runtime.Run, L *lua.LState) int {
	mt := L.CheckTable(1)
	var m Message
	switch s := mt.RawGetString("subject").(type) {
	case lua.LString:
		m.Subject = strings.Join(strings.Fields(redact.Text(string(s))), " ")
	}
	if m.Subject == "" {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "notify.send: message.subject (a non-empty string) is required")
	}
	m.Status = runtime.OptString(L, mt, "status", "ok")
	m.Text = redact.Text(runtime.OptString(L, mt, "text", ""))
	if d := mt.RawGetString("details"); d != lua.LNil {
		v, err := toGo(r, L, d, 0, map[*lua.LTable]bool{})
		if err != nil {
			return r.RaiseCode(L, runtime.CodeInvalidArg, "notify.send: message.details: %v", err)
		}
		m.Details = v
	}
	opts := runtime.OptionsTable(L, 2)
	when := runtime.OptString(L, opts, "when", "always")
	if when != "always" && when != "failure" && when != "never" {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "notify.send: when=%q: want always, failure or never", when)
	}
	cfg := configOf(r)
	var dests []dest
	if cfg.Mail != nil {
		mc := cfg.Mail
		dests = append(dests, dest{to: "mail", send: func(ctx context.Context, p Payload) error { return sendMail(ctx, mc, p) }})
	}
	for _, w := range cfg.Webhooks {
		dests = append(dests, dest{to: "webhook:" + w.Name, send: func(ctx context.Context, p Payload) error { return post(ctx, w, p) }})
	}
	if raw := runtime.OptString(L, opts, "webhook", ""); raw != "" {
		w, err := scriptWebhook(r, raw, runtime.OptString(L, opts, "credentials", ""))
		if err != nil {
			return r.Raise(L, err)
		}
		dests = append(dests, dest{to: "webhook:" + Display(w.URL), send: func(ctx context.Context, p Payload) error { return post(ctx, w, p) }})
	}

	res := L.NewTable()
	results := L.NewTable()
	res.RawSetString("results", results)
	res.RawSetString("sent", lua.LNumber(0))
	res.RawSetString("failed", lua.LNumber(0))
	skip := func(why string) int {
		res.RawSetString("skipped", lua.LString(why))
		L.Push(res)
		return 1
	}
	if !sends(when, m.Status) {
		r.Log.Debug("notify: not sent", "status", m.Status, "when", when)
		return skip("when")
	}
	if len(dests) == 0 {
		r.Log.Debug("notify: nothing sent: no destination is configured ([notify] in the config file)", "subject", m.Subject)
		return skip("not configured")
	}
	var names []string
	for _, d := range dests {
		names = append(names, d.to)
	}
	if r.DryRunAction("send the summary", "subject", m.Subject, "status", m.Status, "to", strings.Join(names, ",")) {
		res.RawSetString("dry_run", lua.LTrue)
		return skip("dry run")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	p := payload(m, time.Now())
	sent, failed := 0, 0
	for _, d := range dests {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		err := d.send(ctx, p)
		cancel()
		e := L.NewTable()
		e.RawSetString("to", lua.LString(d.to))
		if err != nil {
			failed++
			msg := redact.Text(err.Error())
			if ctx.Err() == context.DeadlineExceeded {
				msg = fmt.Sprintf("no answer within %v: %s", timeout, msg)
			}
			r.Log.Warn("notify: the summary could not be sent (the run's exit status is not changed)", "to", d.to, "error", msg)
			e.RawSetString("ok", lua.LFalse)
			e.RawSetString("error", lua.LString(msg))
		} else {
			sent++
			r.Log.Info("notify: summary sent", "to", d.to, "subject", m.Subject, "status", m.Status)
			e.RawSetString("ok", lua.LTrue)
		}
		results.Append(e)
	}
	res.RawSetString("sent", lua.LNumber(sent))
	res.RawSetString("failed", lua.LNumber(failed))
	L.Push(res)
	return 1
}

// scriptWebhook checks a URL a script gave: http(s), granted by the
// operator; its credentials from the config.
func scriptWebhook(r *runtime.Run, raw, credentials string) (Webhook, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Webhook{}, runtime.Errorf(runtime.CodeInvalidArg, "notify.send: webhook=%s: want an http(s)://host/path URL", Display(raw))
	}
	if u.User != nil {
		return Webhook{}, runtime.Errorf(runtime.CodeInvalidArg, "notify.send: webhook=%s: a URL with user or password in it is refused: name credentials instead", Display(raw))
	}
	if err := r.Grants.Check(raw); err != nil {
		return Webhook{}, err
	}
	w := Webhook{Name: Display(raw), URL: raw}
	if credentials != "" {
		c, err := r.Credential(credentials)
		if err != nil {
			return Webhook{}, err
		}
		w.User, w.Token = c.User, c.Password
	}
	return w, nil
}

// maxDepth bounds the nesting of message.details.
const maxDepth = 32

// toGo converts a Lua value to what encoding/json writes, strings
// redacted: a table with keys 1..n only is a list, any other a map.
func toGo(r *runtime.Run, L *lua.LState, v lua.LValue, depth int, seen map[*lua.LTable]bool) (any, error) {
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		f := float64(x)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%v cannot be sent as JSON", f)
		}
		return f, nil
	case lua.LString:
		return redact.Text(string(x)), nil
	case *lua.LUserData:
		return redact.Text(L.ToStringMeta(x).String()), nil
	case *lua.LTable:
		if depth >= maxDepth {
			return nil, fmt.Errorf("nested deeper than %d tables", maxDepth)
		}
		if seen[x] {
			return nil, fmt.Errorf("a table that contains itself cannot be sent")
		}
		seen[x] = true
		defer delete(seen, x)
		n := x.Len()
		keys := 0
		x.ForEach(func(lua.LValue, lua.LValue) { keys++ })
		if n > 0 && keys == n {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				e, err := toGo(r, L, x.RawGetInt(i), depth+1, seen)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
			return out, nil
		}
		out := map[string]any{}
		var err error
		x.ForEach(func(k, val lua.LValue) {
			if err != nil {
				return
			}
			key := redact.Text(k.String())
			if redact.Key(key) {
				out[key] = redact.Mask
				return
			}
			out[key], err = toGo(r, L, val, depth+1, seen)
		})
		return out, err
	}
	return nil, fmt.Errorf("a %s cannot be sent", v.Type().String())
}
