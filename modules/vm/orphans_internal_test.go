package vm

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWhatCountsAsAnOrphan: the owner a REDO log's description names
// decides. Another machine's REDO log is an orphan only once its lease has
// expired by vSphere's clock (an older vmlua's, without a lease, a day
// after its creation); this machine's once its process or run is gone or
// the machine restarted; never while its owner may be alive, never this
// run's own nor a kept one.
func TestWhatCountsAsAnOrphan(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.ProcessState.Pid() // reaped: no process has it (unless reused at once)
	if pidAlive(deadPid) {
		t.Fatalf("pid %d of an ended process is alive", deadPid)
	}
	cy := &cycle{runID: "me", host: "backup1.example.com"}
	liveRuns.Store("sibling", true) // another run of this process, still running
	defer liveRuns.Delete("sibling")
	boot := bootID
	otherBoot := "another-boot"
	cases := []struct {
		name  string
		o     owner
		nowOK bool
		want  verdict
	}{
		{"this run's own", owner{run: "me", host: "backup1.example.com", pid: os.Getpid()}, true, notOrphan},
		{"kept", owner{run: "x", host: "elsewhere", keep: true, lease: now.Add(-time.Hour)}, true, notOrphan},
		{"another machine's, lease running", owner{run: "x", host: "backup2", pid: 42, lease: now.Add(time.Minute)}, true, alive},
		{"another machine's, lease expired", owner{run: "x", host: "backup2", pid: 42, lease: now.Add(-time.Second)}, true, orphaned},
		{"another machine's, vSphere's time unknown", owner{run: "x", host: "backup2", pid: 42, lease: now.Add(-time.Hour)}, false, alive},
		{"an older vmlua's on another machine, made an hour ago", owner{run: "x", host: "backup2", pid: 42, created: now.Add(-time.Hour)}, true, alive},
		{"an older vmlua's on another machine, made two days ago", owner{run: "x", host: "backup2", pid: 42, created: now.Add(-48 * time.Hour)}, true, orphaned},
		{"an unreadable description", owner{}, true, alive},
		{"this machine's, its process gone", owner{run: "x", host: "backup1.example.com", boot: boot, pid: deadPid, lease: now.Add(time.Hour)}, true, orphaned},
		{"this machine's, its process running", owner{run: "x", host: "backup1.example.com", boot: boot, pid: os.Getppid(), lease: now.Add(-time.Hour)}, true, alive},
		{"this process's, its run still running", owner{run: "sibling", host: "backup1.example.com", boot: boot, pid: os.Getpid()}, true, alive},
		{"this process's, its run ended", owner{run: "ended", host: "backup1.example.com", boot: boot, pid: os.Getpid()}, true, orphaned},
	}
	if bootID != "" {
		cases = append(cases, struct {
			name  string
			o     owner
			nowOK bool
			want  verdict
		}{"this machine's before it restarted, its pid running again", owner{run: "x", host: "backup1.example.com", boot: otherBoot, pid: os.Getppid()}, true, orphaned})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := cy.judge(tc.o, now, tc.nowOK)
			if got != tc.want {
				t.Errorf("verdict %d (%s), want %d", got, why, tc.want)
			}
			if why == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestOwnerRoundTrips: what description writes, parseOwner reads back,
// a host name with dots included; the older form (no boot, no lease)
// still reads.
func TestOwnerRoundTrips(t *testing.T) {
	cy := &cycle{runID: "ab12cd34", host: "backup1.example.com"}
	created := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	lease := created.Add(LeaseLength)
	desc := cy.description(false, created, lease)
	if strings.Count(desc, "=") != 7 {
		t.Errorf("the description's free text holds '=': %q", desc)
	}
	o := parseOwner(desc)
	if o.run != "ab12cd34" || o.host != "backup1.example.com" || o.pid != os.Getpid() || o.keep || !o.created.Equal(created) || !o.lease.Equal(lease) || o.boot != bootID {
		t.Errorf("parseOwner(description) = %+v", o)
	}
	if o := parseOwner(cy.description(true, created, lease)); !o.keep {
		t.Errorf("keep=true not read back: %+v", o)
	}
	old := parseOwner("vmlua REDO log: run=deadbeef pid=999999 host=elsewhere.example created=2026-01-01T00:00:00Z keep=false. vmlua commits it when the run ends; if you see it long after, the run was killed: 'vm.cleanup_orphans()' commits it.")
	if old.run != "deadbeef" || old.pid != 999999 || old.host != "elsewhere.example" || !old.lease.IsZero() || old.created.IsZero() || old.keep {
		t.Errorf("the older form read as %+v", old)
	}
}
