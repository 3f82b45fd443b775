package vsim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/types"
)

// A session idle for longer than SessionIdle expires: its next API call
// fails with NotAuthenticated, /folder answers it (and its tickets) 401;
// an API call renews it, a /folder read does not.
func TestIdleSessionsExpire(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1, SessionIdle: 10 * time.Minute})
	ctx := context.Background()
	host := hostOf(t, s, c, "VM1")
	addr, _ := s.HostAddress(host)
	const ds, file = "LocalDS_0", "VM1/VM1.vmdk"

	// an API call renews: 2 x 6 minutes with a call in between is fine
	s.AdvanceClock(6 * time.Minute)
	tk := acquireTicket(t, c, "httpGet", folderURL(addr, ds, file))
	s.AdvanceClock(6 * time.Minute)
	if got, _ := rawGet(t, addr, ds, file, withCookie(c)); got != http.StatusOK {
		t.Fatalf("GET 6 minutes after an API call: %d", got)
	}
	// reads do not renew: 6 more minutes and the session is gone
	s.AdvanceClock(6 * time.Minute)
	if got, _ := rawGet(t, addr, ds, file, withTicket(tk.Id)); got != http.StatusUnauthorized {
		t.Fatalf("GET with a ticket of an expired session: %d, want 401", got)
	}
	if got, _ := rawGet(t, s.URL.Host, ds, file, withCookie(c)); got != http.StatusUnauthorized {
		t.Fatalf("GET with the cookie of an expired session: %d, want 401", got)
	}
	if us, err := session.NewManager(c.Client).UserSession(ctx); err == nil && us != nil {
		t.Fatalf("the expired session still answers: %+v", us)
	}
	// logging in again works
	if err := c.Login(ctx, s.URL.User); err != nil {
		t.Fatal(err)
	}
	if got, _ := rawGet(t, addr, ds, file, withCookie(c)); got != http.StatusOK {
		t.Fatalf("GET after logging in again: %d", got)
	}
}

// An API call of an expired session fails with NotAuthenticated.
func TestExpiredSessionGetsNotAuthenticated(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	s.AdvanceClock(DefaultSessionIdle + time.Minute)
	_, err := session.NewManager(c.Client).AcquireGenericServiceTicket(context.Background(), &types.SessionManagerHttpServiceRequestSpec{Url: s.URL.String(), Method: "httpGet"})
	var na *types.NotAuthenticated
	if err == nil || !isFault(err, &na) {
		t.Fatalf("call of an expired session: %v, want NotAuthenticated", err)
	}
}
