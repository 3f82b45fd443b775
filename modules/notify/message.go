package notify

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vmlua/vmlua/runtime"
)

// Message is a run's summary as a script gives it.
type Message struct {
	Subject string
	Status  string // ok, partial, failed, nothing_selected, ...
	Text    string // the body, as the script printed its summary
	Details any    // any JSON-able value: rows of results, totals
}

// Payload is the JSON document a webhook receives.
type Payload struct {
	Subject string `json:"subject"`
	Status  string `json:"status"`
	Text    string `json:"text,omitempty"`
	Details any    `json:"details,omitempty"`
	Host    string `json:"host"`  // the machine vmlua ran on
	Time    string `json:"time"`  // when it was sent, RFC 3339 UTC
	Vmlua   string `json:"vmlua"` // vmlua's version
}

// payload builds the document sent for m at t.
func payload(m Message, t time.Time) Payload {
	host, _ := os.Hostname()
	return Payload{Subject: m.Subject, Status: m.Status, Text: m.Text, Details: m.Details, Host: host,
		Time: t.UTC().Format(time.RFC3339), Vmlua: runtime.Version}
}

// mailBody is the plain-text body of the mail: the script's text, the
// details as indented JSON, and where it came from.
func (p Payload) mailBody() string {
	var b strings.Builder
	if p.Text != "" {
		b.WriteString(strings.TrimRight(p.Text, "\n"))
		b.WriteString("\n\n")
	}
	if p.Details != nil {
		if j, err := json.MarshalIndent(p.Details, "", "  "); err == nil {
			b.WriteString("Details:\n")
			b.Write(j)
			b.WriteString("\n\n")
		}
	}
	fmt.Fprintf(&b, "-- \nstatus %s; sent by vmlua %s on %s at %s\n", p.Status, p.Vmlua, p.Host, p.Time)
	return b.String()
}

// sends reports whether a message of this status is sent under when
// (always, failure, never): failure sends every status but ok.
func sends(when, status string) bool {
	switch when {
	case "never":
		return false
	case "failure":
		return status != "ok"
	}
	return true
}
