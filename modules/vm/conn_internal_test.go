package vm

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
)

// TestSessionConnectionsResumeTLS: a session's connections after the first
// resume its TLS session (a backup's range reads open up to 21 of them),
// for an insecure endpoint and for a thumbprint-pinned one alike when the
// pin goes through crypto/tls's own check.
func TestSessionConnectionsResumeTLS(t *testing.T) {
	ctx := context.Background()
	sim, err := vsim.Start(ctx, vsim.Options{VMs: 1, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	u := *sim.URL
	u.User = nil
	cases := []struct {
		name string
		ep   runtime.Endpoint
	}{
		{"insecure", runtime.Endpoint{Insecure: true}},
		{"pinned by thumbprint", runtime.Endpoint{Thumbprint: sim.Thumbprint}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := tc.ep
			ep.Name, ep.URL, ep.Username, ep.Password = "sim", u.String(), sim.URL.User.Username(), "pw"
			s, err := dial(ctx, ep, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			defer s.logout(ctx)
			resumes(t, s, sim.URL.Host)
		})
	}
}

// resumes checks that new connections of session s to host resume its
// TLS session.
func resumes(t *testing.T, s *loggedIn, host string) {
	ctx := context.Background()
	tr := s.client.Client.DefaultTransport()
	// one request and its answer on a new connection: TLS 1.3 sends its
	// session ticket after the handshake, read with the answer
	exchange := func() tls.ConnectionState {
		c, err := tr.DialTLSContext(ctx, "tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "GET /sdk/vimServiceVersions.xml HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return c.(*tls.Conn).ConnectionState()
	}
	exchange()
	for i := range 3 {
		if st := exchange(); !st.DidResume {
			t.Errorf("connection %d of the session made a full TLS handshake (version %x): its session was not resumed", i+2, st.Version)
		}
	}
}
