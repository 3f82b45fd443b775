package soak

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all"
)

// size is one soak configuration.
type size struct {
	name      string
	backups   int // concurrent backups per round
	vms       int // VMs in the inventory, all watched
	rounds    int
	questions int // questions raised (and answered by the watcher) per round
}

var (
	short = size{name: "short", backups: 8, vms: 200, rounds: 3, questions: 10}
	full  = size{name: "full", backups: 50, vms: 1000, rounds: 5, questions: 50}
)

// Tolerances between the first measured round and every later one.
const (
	goroutineSlack = 10
	fdSlack        = 10
	heapSlack      = 32 << 20
)

type sample struct {
	goroutines, fds int
	heap            uint64
}

// measure samples the process once finished runs have wound down. The
// pooled session's idle keep-alive connections are closed first: they are
// bounded by the pool's caps and reused by the next round (a connection
// that leaks is not idle, and still counts).
func measure(t *testing.T, pool *vm.Pool) sample {
	t.Helper()
	var s sample
	pool.CloseIdleConnections()
	// let finished runs' goroutines and connections wind down
	for i := 0; i < 20; i++ {
		goruntime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	s.goroutines, s.fds, s.heap = goruntime.NumGoroutine(), len(ents), m.HeapAlloc
	return s
}

const backupScript = `
local vm, backup, transport = require "vm", require "backup", require "transport"
local t = transport.open(arg.dest, { credentials = arg.cred })
local v = vm.open("name:" .. arg.vm)
local set = v:backup{ to = t, compress = "zstd" }
local res = backup.verify{ at = t, set = set.id }
if not res.ok then error("verify of " .. set.id .. " failed") end
backup.prune{ at = t, vm = v.name, keep = 1 }
`

const watchScript = `
local question = require "question"
local r = question.watch{ vms = "any:", limit = tonumber(arg.limit), timeout = 120, max_wait = 2,
	handler = function(v, q) return 0 end }
if r.answered ~= tonumber(arg.limit) then error("answered " .. r.answered .. " of " .. arg.limit) end
`

// TestSoakHasNoGrowthBetweenRounds runs the rounds and fails when
// goroutines, file descriptors or the heap grow between rounds beyond a
// small tolerance, or when any set does not verify.
func TestSoakHasNoGrowthBetweenRounds(t *testing.T) {
	sz := short
	if os.Getenv("VMLUA_SOAK") == "full" {
		sz = full
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	sshd := testservers.SSHD(t)
	smbd := testservers.SMBD(t, testservers.SMBDOptions{})
	fileDir := t.TempDir()
	type target struct{ url, cred string }
	targets := []target{
		{url: "file://" + fileDir},
		{url: sshd.URL("sftp", sshd.DataDir), cred: "sftp"},
		{url: fmt.Sprintf("smb://%s@%s/%s/soak", smbd.User, smbd.Addr(), smbd.Share), cred: "smb"},
	}
	creds := map[string]transports.Credentials{
		"sftp": {Name: "sftp", User: sshd.User.Name, KeyFile: sshd.ClientKeyFile, KnownHosts: sshd.KnownHostsFile},
		"smb":  {Name: "smb", User: smbd.User, Password: smbd.Password},
	}
	inv := make([]vsim.VMSpec, sz.vms)
	for i := range inv {
		inv[i] = vsim.VMSpec{Name: fmt.Sprintf("S%04d", i), Disks: []vsim.DiskSpec{{Size: 256 << 10}}}
	}
	sim, err := vsim.Start(context.Background(), vsim.Options{Password: "soak-Sim-pw", WriteRate: 1, Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	u := *sim.URL
	u.User = nil
	ep := runtime.Endpoint{Name: "sim", URL: u.String(), Username: sim.URL.User.Username(), Password: "soak-Sim-pw", Insecure: true}

	// one vSphere session for every run, as a fleet run shares it
	pool := vm.NewPool()
	t.Cleanup(func() { _ = pool.Close(context.Background()) })
	run := func(script string, args ...string) error {
		opts := runtime.Options{
			Logger: slog.New(slog.DiscardHandler), Modules: all.Modules(), Timeout: 5 * time.Minute,
			Endpoints: map[string]runtime.Endpoint{"sim": ep}, DefaultEndpoint: "sim",
			Credentials: creds, Args: args,
		}
		vm.SharePool(&opts, pool)
		for _, tg := range targets {
			if err := opts.Grants.Allow(tg.url); err != nil {
				return err
			}
		}
		r, err := runtime.New(opts)
		if err != nil {
			return err
		}
		return r.ExecString("soak.lua", script)
	}

	var samples []sample
	for round := 0; round < sz.rounds; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, sz.backups+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- run(watchScript, fmt.Sprintf("limit=%d", sz.questions))
		}()
		// questions on VMs that are not being backed up
		for q := 0; q < sz.questions; q++ {
			name := fmt.Sprintf("S%04d", sz.vms-1-q)
			if _, err := sim.Ask(name, fmt.Sprintf("soak round %d: continue?", round), "OK", "Cancel"); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < sz.backups; i++ {
			tg := targets[i%len(targets)]
			args := []string{"dest=" + tg.url, fmt.Sprintf("vm=S%04d", i)}
			if tg.cred != "" {
				args = append(args, "cred="+tg.cred)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- run(backupScript, args...)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		s := measure(t, pool)
		samples = append(samples, s)
		t.Logf("soak %s round %d: %d backups verified, %d questions answered; goroutines %d, fds %d, heap %.1f MiB",
			sz.name, round, sz.backups, sz.questions, s.goroutines, s.fds, float64(s.heap)/(1<<20))
	}
	// the first round warms caches and pools; growth is measured after it
	base := samples[0]
	for i, s := range samples[1:] {
		if s.goroutines > base.goroutines+goroutineSlack {
			t.Errorf("round %d: %d goroutines, %d after round 0: a goroutine leak", i+1, s.goroutines, base.goroutines)
		}
		if s.fds > base.fds+fdSlack {
			t.Errorf("round %d: %d open file descriptors, %d after round 0: a descriptor leak", i+1, s.fds, base.fds)
		}
		if s.heap > base.heap+heapSlack {
			t.Errorf("round %d: heap %d bytes, %d after round 0: memory growth", i+1, s.heap, base.heap)
		}
	}
}
