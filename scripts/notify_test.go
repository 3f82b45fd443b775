package scripts_test

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/notify"
	"github.com/vmlua/vmlua/runtime"
)

// summaries is a webhook on loopback that keeps the summaries it gets.
type summaries struct {
	mu  sync.Mutex
	got []notify.Payload
}

func (s *summaries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p notify.Payload
	if err := json.Unmarshal(b, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.got = append(s.got, p)
	s.mu.Unlock()
}

func (s *summaries) take() []notify.Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.got
	s.got = nil
	return out
}

// TestBackupScriptsSendOneSummaryOnFailureOrPartial: nightly.lua and
// backup_all.lua send one summary per run, by default when the run failed,
// was partial or selected nothing, with notify=always also when it went
// well, never with notify=never; the exit status is the run's own. With
// no [notify] configured nothing is sent and nothing fails.
func TestBackupScriptsSendOneSummaryOnFailureOrPartial(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20})
	sink := &summaries{}
	hook := httptest.NewServer(sink)
	t.Cleanup(hook.Close)
	withHook := func(o *runtime.Options) {
		notify.Configure(o, notify.Config{Webhooks: []notify.Webhook{{Name: "ops", URL: hook.URL + "/vmlua"}}})
	}
	// what vmlua run --each hands each run: its VM as vm=
	each := func(o *runtime.Options) { withHook(o); o.HostArgs = append(o.HostArgs, "vm") }
	granted := "to=file://" + filepath.Join(e.Dir, "sets")
	notGranted := "to=file://" + t.TempDir()
	cases := []struct {
		name    string
		args    []string
		config  func(*runtime.Options)
		exit    int
		status  string // of the one summary sent; "" for none
		subject string
	}{
		{"a run that went well sends nothing by default", []string{granted, "vms=name:VM1"}, withHook, runtime.ExitOK, "", ""},
		{"notify=always sends it too", []string{granted, "vms=name:VM1", "notify=always"}, withHook, runtime.ExitOK, "ok", "0 of 1"},
		{"a partial run sends a summary", []string{granted, "vms=name:DB01"}, withHook, runtime.ExitPartial, "partial", "partial"},
		{"a failed run sends a summary", []string{notGranted, "vms=name:VM1"}, withHook, runtime.ExitFailed, "failed", "1 of 1"},
		{"a selection of nothing sends a summary", []string{granted, "vms=name:nosuch"}, withHook, runtime.ExitNothingSelected, "nothing_selected", "no VM matches vms=name:nosuch"},
		{"a bad specifier sends a summary", []string{granted, "vms=colour:red"}, withHook, runtime.ExitFailed, "failed", "no VM could be selected"},
		{"notify=never sends nothing", []string{notGranted, "vms=name:VM1", "notify=never"}, withHook, runtime.ExitFailed, "", ""},
		{"without [notify] nothing is sent", []string{notGranted, "vms=name:VM1"}, nil, runtime.ExitFailed, "", ""},
		{"a run of --each sends nothing by default", []string{notGranted, "vm=name:VM1"}, each, runtime.ExitFailed, "", ""},
		{"a run of --each sends with notify= given", []string{notGranted, "vm=name:VM1", "notify=failure"}, each, runtime.ExitFailed, "failed", "1 of 1"},
	}
	for _, script := range []string{"nightly.lua", "backup_all.lua"} {
		for _, tc := range cases {
			t.Run(script+": "+tc.name, func(t *testing.T) {
				err, recs := e.Run(t, script, simtest.RunOptions{Args: tc.args, Mod: tc.config})
				if got := runtime.ExitStatus(err); got != tc.exit {
					t.Fatalf("exit status %d, want %d: %v\n%s", got, tc.exit, err, recs)
				}
				got := sink.take()
				if tc.status == "" {
					if len(got) != 0 {
						t.Fatalf("%d summaries sent, want none: %+v", len(got), got)
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("%d summaries sent, want 1\n%s", len(got), recs)
				}
				p := got[0]
				prefix := "vmlua " + strings.TrimSuffix(script, ".lua") + ": " + tc.status + ": "
				if p.Status != tc.status || !strings.HasPrefix(p.Subject, prefix) || !strings.Contains(p.Subject, tc.subject) || p.Text == "" {
					t.Errorf("summary %q (%s), want status %s and a subject starting %q holding %q; text:\n%s", p.Subject, p.Status, tc.status, prefix, tc.subject, p.Text)
				}
				for _, l := range recs.Printed() {
					if !strings.Contains(p.Text, l) {
						t.Errorf("the summary lacks the printed line %q:\n%s", l, p.Text)
					}
				}
			})
		}
	}
}

// TestNightlyMailsItsSummaryAndASMTPFailureIsAWarning: nightly.lua's
// partial run mails its summary table to a real SMTP server (STARTTLS,
// AUTH); when the server refuses it, the run logs a WARN and still exits
// 7 (partial), as it would have without [notify].
func TestNightlyMailsItsSummaryAndASMTPFailureIsAWarning(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20})
	srv := testservers.Mailpit(t)
	pem, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	mailWith := func(password string) func(*runtime.Options) {
		return func(o *runtime.Options) {
			notify.Configure(o, notify.Config{Mail: &notify.Mail{Server: srv.Addr(), From: "vmlua@backup01.example.org", To: []string{"ops@example.org"},
				User: srv.User, Password: password, RootCAs: pool}})
		}
	}
	args := []string{"to=file://" + filepath.Join(e.Dir, "sets"), "vms=name:DB01"}
	err, recs := e.Run(t, "nightly.lua", simtest.RunOptions{Args: args, Mod: mailWith(srv.Password)})
	if runtime.ExitStatus(err) != runtime.ExitPartial {
		t.Fatalf("exit status %d: %v\n%s", runtime.ExitStatus(err), err, recs)
	}
	msgs := srv.Messages(t)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Subject, "vmlua nightly: partial: ") {
		t.Fatalf("mails %+v", msgs)
	}
	for _, want := range []string{"nightly summary", "DB01", "the set lacks disk(s) scsi0:2"} {
		if !strings.Contains(msgs[0].Text, want) {
			t.Errorf("the mail lacks %q:\n%s", want, msgs[0].Text)
		}
	}
	if strings.Contains(msgs[0].Raw, simtest.Password) || strings.Contains(msgs[0].Raw, srv.Password) {
		t.Error("a password is in the mail")
	}

	err, recs = e.Run(t, "nightly.lua", simtest.RunOptions{Args: args, Mod: mailWith("wrong-password")})
	if runtime.ExitStatus(err) != runtime.ExitPartial {
		t.Fatalf("with a failing SMTP server: exit status %d, want 7 (partial) as without [notify]: %v", runtime.ExitStatus(err), err)
	}
	if w := recs.Find("notify: the summary could not be sent (the run's exit status is not changed)"); len(w) != 1 || !strings.Contains(w[0]["error"].(string), "535") {
		t.Errorf("want one WARN naming the refusal, got %v", w)
	}
	if strings.Contains(recs.String(), "wrong-password") {
		t.Error("the SMTP password is in the log")
	}
	if n := len(srv.Messages(t)); n != 1 {
		t.Errorf("the server holds %d mails, want still 1", n)
	}
}
