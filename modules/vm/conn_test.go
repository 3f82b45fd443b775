package vm_test

import (
	"context"
	"crypto/sha1" // #nosec G505 -- govc's thumbprint form under test
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// TestDroppedSessionIsReestablished: when vCenter drops the session in the
// middle of a run, the next call logs in again and the script goes on.
func TestDroppedSessionIsReestablished(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	err, recs := e.Run(t, `
		local vm = require "vm"
		local v = vm.open("name:DB01")
		print("before")
		-- the test drops every session when it sees "before"
		v:refresh()
		assert(vm.open("name:VM1").name == "VM1")
	`, simtest.RunOptions{Hook: func(msg string, a map[string]any) {
		if msg == "before" {
			if n, err := e.Sim.DropSessions(context.Background()); err != nil || n == 0 {
				t.Errorf("DropSessions = %d, %v", n, err)
			}
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("the vSphere session was lost; logged in again")) == 0 {
		t.Errorf("the re-login was not logged:\n%s", recs)
	}
}

// TestPoolSharesOneSessionBetweenRuns: runs given a pool reuse its session
// and do not log it out when they end; the pool's owner does.
func TestPoolSharesOneSessionBetweenRuns(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	pool := vm.NewPool()
	for i := 0; i < 3; i++ {
		err, recs := e.Run(t, `assert(require("vm").open("name:VM1"))`, simtest.RunOptions{Mod: func(o *runtime.Options) {
			vm.SharePool(o, pool)
		}})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, recs)
		}
	}
	if err := pool.Close(context.Background()); err != nil {
		t.Errorf("pool.Close: %v (the runs must not have logged the pooled session out)", err)
	}
}

// TestARunLeavesNoConnectionBehind: a run that logs in by itself logs out,
// stops its keep-alive and closes its idle connections when it ends, so
// repeated runs do not pile up goroutines (each idle HTTP connection holds
// two until the transport's 90 s idle timeout).
func TestARunLeavesNoConnectionBehind(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	run := func() {
		if err, recs := e.Run(t, `assert(require("vm").open("name:VM1"))`, simtest.RunOptions{}); err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
	}
	run() // warm up: the simulator's own goroutines, caches
	settle := func() int {
		n := goruntime.NumGoroutine()
		for i := 0; i < 50; i++ { // bounded: up to 1 s for goroutines to end
			time.Sleep(20 * time.Millisecond)
			if m := goruntime.NumGoroutine(); m == n {
				break
			} else {
				n = m
			}
		}
		return n
	}
	before := settle()
	for i := 0; i < 10; i++ {
		run()
	}
	if after := settle(); after > before+4 {
		t.Errorf("goroutines grew from %d to %d over 10 runs: a run leaves connections behind", before, after)
	}
}

// TestThumbprintPinsTheSimulatorInEveryPrintedForm: a profile pins the
// server by any of the forms the tools print, in either case; a pin that
// does not match refuses the connection and shows the server's
// fingerprint in the form the user wrote (and as SHA-256).
func TestThumbprintPinsTheSimulatorInEveryPrintedForm(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	conn, err := tls.Dial("tcp", e.Sim.URL.Host, &tls.Config{InsecureSkipVerify: true}) // #nosec G402 -- reads the test server's certificate
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw) // #nosec G401 -- govc's form under test
	colons := func(b []byte) string {
		h := strings.ToUpper(hex.EncodeToString(b))
		var p []string
		for i := 0; i < len(h); i += 2 {
			p = append(p, h[i:i+2])
		}
		return strings.Join(p, ":")
	}
	flip := func(b []byte) []byte { c := append([]byte(nil), b...); c[0] ^= 0xff; return c }
	b64 := func(b []byte) string { return "SHA256:" + base64.RawStdEncoding.EncodeToString(b) }
	cases := []struct {
		name, pin string
		wantErr   []string // empty: the connection is made
	}{
		{"bare SHA-256 hex", hex.EncodeToString(s256[:]), nil},
		{"bare SHA-256 hex in upper case", strings.ToUpper(hex.EncodeToString(s256[:])), nil},
		{"colon SHA-256 hex as openssl prints it", colons(s256[:]), nil},
		{"SHA256: and base64 as the docs say", b64(s256[:]), nil},
		{"govc's colon SHA-1", colons(s1[:]), nil},
		{"govc's colon SHA-1 in lower case", strings.ToLower(colons(s1[:])), nil},
		{"the simulator's own printed thumbprint", e.Sim.Thumbprint, nil},
		{"a wrong bare SHA-256 shows the server's bare SHA-256", hex.EncodeToString(flip(s256[:])), []string{"is not the one pinned", strings.ToUpper(hex.EncodeToString(s256[:])), "set thumbprint ="}},
		{"a wrong SHA256:base64 shows the server's in base64 and hex", b64(flip(s256[:])), []string{b64(s256[:]), "SHA-256 " + colons(s256[:])}},
		{"a wrong SHA-1 shows the server's SHA-1 and SHA-256", colons(flip(s1[:])), []string{colons(s1[:]), "SHA-256 " + colons(s256[:]), "govc about.cert -thumbprint"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `assert(require("vm").open("name:VM1"))`, simtest.RunOptions{Mod: func(o *runtime.Options) {
				ep := e.Endpoint
				ep.Insecure, ep.Thumbprint = false, tc.pin
				o.Endpoints = map[string]runtime.Endpoint{"sim": ep}
			}})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("pin %q: %v\n%s", tc.pin, err, recs)
				}
				return
			}
			if err == nil {
				t.Fatalf("pin %q: the connection was made", tc.pin)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestConnectSwitchesTheRunsProfile: every vm.connect makes its profile
// the run's connection, not only the first one (the profile was stored
// only when none was).
func TestConnectSwitchesTheRunsProfile(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	probe := &runtime.Module{Name: "probe", Summary: "the run's profile", Funcs: []runtime.Func{{
		Name: "profile", Returns: "string", Doc: "the profile of the run's connection",
		Fn: func(r *runtime.Run, L *lua.LState) int {
			c, err := vm.RunConn(r)
			if err != nil {
				return r.Raise(L, err)
			}
			L.Push(lua.LString(c.Endpoint.Name))
			return 1
		}}}}
	for _, tc := range []struct {
		name, script string
	}{
		{"no connect uses the default", `assert(probe.profile() == "sim", probe.profile())`},
		{"one connect uses its profile", `vm.connect("a"); assert(probe.profile() == "a", probe.profile())`},
		{"a second connect replaces the first", `vm.connect("a"); vm.connect("b"); assert(probe.profile() == "b", probe.profile())`},
		{"connecting back to an earlier profile", `vm.connect("a"); vm.connect("b"); vm.connect("a"); assert(probe.profile() == "a", probe.profile())`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `local vm, probe = require "vm", require "probe"; `+tc.script, simtest.RunOptions{
				Modules: append(all.Modules(), probe),
				Mod: func(o *runtime.Options) {
					a, b := e.Endpoint, e.Endpoint
					a.Name, b.Name = "a", "b"
					o.Endpoints = map[string]runtime.Endpoint{"sim": e.Endpoint, "a": a, "b": b}
				}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
		})
	}
}
