package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup/sets"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/vmfs"
)

func init() { register(func() verb { return &doctorVerb{} }) }

// doctorVerb is vmlua doctor.
type doctorVerb struct {
	o  opFlags
	to string
}

func (*doctorVerb) About() about {
	return about{
		name:    "doctor",
		summary: "say, read-only, what a backup would do with each VM and what stands in its way",
		usage: `Usage: vmlua doctor [FLAGS] [SPEC]

Checks, without changing anything, what a backup of each VM SPEC matches (default any:, the
specifiers of run --each) would do on this vSphere and what stands in its way, and prints
one line per VM and what it found. Safe on a production vCenter: it reads properties, asks
AuthorizationManager.HasPrivilegeOnEntities and each host's HostDateTimeSystem.QueryDateTime,
reads the disks' descriptors, and sends one request without credentials to each host's own
address; it creates no snapshot, task or file.

For each VM: the privileges of the vmlua-backup role the user lacks on the VM and its
datastores (docs/real-vsphere.md lists the role and the govc commands that create it);
whether its host is reached directly (its own address, port 443, its certificate checked)
or only through vCenter's proxy (slower); the type of each datastore (VMFS, NFS, vSAN,
vVols) and what it means for vmlua; changed block tracking; snapshots (one vmlua did not
make blocks a backup); independent disks of a running VM and RDMs (left out: a partial
set); disks whose descriptor cannot be read; the host's clock against this machine's. With
--to TARGET-URL (granted for this command), the target's free space against the capacity
of the disks a backup would read.

A block is something that makes the backup fail or leaves it partial; a warning makes it
slower or less than it could be; --json also lists what was found fine (info).

Flags:`,
		footer: "Exit status: 0 nothing blocks a backup (warnings may have been printed), 8 something blocks the backup of a VM, or the target is too small, 1 vSphere could not be asked, " + opFooter + ".",
	}
}

func (v *doctorVerb) Flags(fs *flag.FlagSet) {
	v.o.register(fs, true, false)
	fs.StringVar(&v.to, "to", "", "TARGET-URL: also check the free space there against the disks a backup would write (granted for this command)")
}

// doctorTarget is what vmlua doctor found of --to.
type doctorTarget struct {
	URL      string       `json:"url"`
	Free     *int64       `json:"free_bytes"`
	Need     int64        `json:"need_bytes"`
	Findings []vm.Finding `json:"findings"`
}

func (v *doctorVerb) Run(inv *call, pos []string) int {
	spec, ok := selection("doctor", pos, inv.stderr)
	if !ok {
		return exitUsage
	}
	if v.to != "" {
		// the folders above it too: a folder a backup would create is
		// measured at the nearest one that exists
		v.o.also = append(v.o.also, targetAncestors(v.to)...)
	}
	x, code := v.o.start(inv, "")
	if x == nil {
		return code
	}
	defer x.close()
	res := map[string]any{"spec": spec.String()}
	c, err := vm.Connect(x.r, "")
	if err != nil {
		return x.fail(err, res)
	}
	ctx := x.r.Context()
	found, err := c.Find(ctx, spec)
	if err != nil {
		return x.fail(err, res)
	}
	if len(found) == 0 {
		return x.fail(nothingThere("%s: nothing was checked", c.NoMatch(ctx, spec).Message), res)
	}
	var vms []*vm.VM
	for _, f := range found {
		one, err := c.VMByRef(ctx, f.Self)
		var re *runtime.Error
		if errors.As(err, &re) && re.Code == runtime.CodeNotFound {
			x.r.Log.Warn("doctor: the VM was removed while the inventory was read; it is not checked", "vm", f.Name, "moref", f.Self.Value)
			continue
		}
		if err != nil {
			return x.fail(err, res)
		}
		vms = append(vms, one)
	}
	checks, err := c.Checkup(ctx, vms, vm.CheckupOptions{})
	if err != nil {
		return x.fail(err, res)
	}
	var target *doctorTarget
	if v.to != "" {
		target = v.checkTarget(x, c, checks)
	}
	blocked := target != nil && hasBlock(target.Findings)
	counts := map[vm.CheckupStatus]int{}
	for _, ck := range checks {
		counts[ck.Status]++
		blocked = blocked || ck.Status == vm.StatusBlocked
	}
	code = exitOK
	if blocked {
		code = exitBlocked
	}
	res["vms"] = checks
	if target != nil {
		res["target"] = target
	}
	res["blocked"] = blocked
	res["summary"] = map[string]int{"ok": counts[vm.StatusOK], "warn": counts[vm.StatusWarn], "blocked": counts[vm.StatusBlocked]}
	res["role"] = map[string]any{"name": vm.BackupRoleName, "privileges": roleIDs(), "doc": "docs/real-vsphere.md#privileges"}
	if v.o.json {
		x.result(code, nil, res)
		return code
	}
	printDoctor(x.stdout, checks, target, counts)
	return code
}

// checkTarget opens --to and compares its free space with the capacity
// of the disks a backup of the VMs would read.
func (v *doctorVerb) checkTarget(x *op, c *vm.Conn, checks []*vm.Checkup) *doctorTarget {
	t := &doctorTarget{URL: transports.Redact(v.to), Findings: []vm.Finding{}}
	var need int64
	for _, ck := range checks {
		need += ck.BackedUpBytes()
	}
	t.Need = need
	add := func(sev vm.Severity, format string, args ...any) {
		t.Findings = append(t.Findings, vm.Finding{Check: "target", Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	free, err := v.targetFree(x, c, add)
	if errors.Is(err, errNoSpaceReport) {
		add(vm.SevWarn, "the target's transport cannot say how much space is free there: check that it holds %s (%d bytes, the capacity of the disks a full backup reads)", sets.HumanBytes(need), need)
		return t
	}
	if errors.Is(err, errTargetOpen) {
		add(vm.SevBlock, "%v", err)
		return t
	}
	if err != nil {
		add(vm.SevWarn, "the target's free space cannot be read: %v", err)
		return t
	}
	t.Free = &free
	if free < need {
		add(vm.SevBlock, "the target has %s (%d bytes) free, less than the %s (%d bytes) of the disks a full backup of the %d VM(s) reads: a backup can fill it before it ends (compression and sparse disks need less, but nothing promises how much). Free space there or choose another target", sets.HumanBytes(free), free, sets.HumanBytes(need), need, len(checks))
		return t
	}
	add(vm.SevInfo, "the target has %s free, for at most %s a full backup of the %d VM(s) writes", sets.HumanBytes(free), sets.HumanBytes(need), len(checks))
	return t
}

// errNoSpaceReport: the target's transport cannot say its free space;
// errTargetOpen: the target cannot be reached (a backup would fail).
var (
	errNoSpaceReport = errors.New("the transport cannot report free space")
	errTargetOpen    = errors.New("the target cannot be opened")
)

// targetFree reads the free space at --to without creating anything
// there: a vmfs:// URL's datastore's (its folder is not looked at, which
// takes a datastore search task), else at the nearest folder of the URL
// that exists, opened with create=false.
func (v *doctorVerb) targetFree(x *op, c *vm.Conn, add func(vm.Severity, string, ...any)) (int64, error) {
	ctx := x.r.Context()
	if u, err := transports.Parse(v.to); err == nil && strings.EqualFold(u.Scheme, "vmfs") {
		if err := x.r.Grants.Check(v.to); err != nil {
			return 0, fmt.Errorf("%w: %w", errTargetOpen, err)
		}
		free, err := vmfs.FreeSpaceAt(ctx, c.Client, v.to)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errTargetOpen, err)
		}
		return free, nil
	}
	h, at, err := openExisting(x, v.o.credentials, targetAncestors(v.to))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errTargetOpen, err)
	}
	defer h.T.Close()
	if at > 0 {
		add(vm.SevInfo, "the folder does not exist yet (a backup creates it): the free space is that of %s", h.URL)
	}
	sr, ok := transports.As[transports.SpaceReporter](h.T)
	if !ok {
		return 0, errNoSpaceReport
	}
	return sr.FreeSpace(ctx, "")
}

// targetAncestors is the URL and the URLs of the folders above it, the
// nearest first.
func targetAncestors(raw string) []string {
	out := []string{raw}
	u, err := transports.Parse(raw)
	if err != nil {
		return out
	}
	for p := strings.TrimSuffix(u.Path, "/"); p != "" && p != "/" && p != "."; {
		p = path.Dir(p)
		up := *u
		up.Path, up.RawPath = p, ""
		if p == "." {
			up.Path = ""
		}
		out = append(out, up.String())
		if p == "/" || p == "." {
			break
		}
	}
	return out
}

// openExisting opens the first of urls whose folder exists, without
// creating any (create=false): doctor changes nothing, on the target
// either. at is the index of the one opened.
func openExisting(x *op, credentials string, urls []string) (h *modtransport.Handle, at int, err error) {
	for i, u := range urls {
		h, err = modtransport.Open(x.r, u, credentials, map[string]string{"create": "false"})
		if err == nil {
			return h, i, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, 0, err
		}
	}
	return nil, 0, err
}

func hasBlock(fs []vm.Finding) bool {
	for _, f := range fs {
		if f.Severity == vm.SevBlock {
			return true
		}
	}
	return false
}

func roleIDs() []string {
	ids := make([]string, len(vm.BackupPrivileges))
	for i, p := range vm.BackupPrivileges {
		ids[i] = p.ID
	}
	return ids
}

// printDoctor prints the checkups as a table, then what blocks and what
// warns, VM by VM.
func printDoctor(w io.Writer, checks []*vm.Checkup, target *doctorTarget, counts map[vm.CheckupStatus]int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tPOWER\tHOST\tDATA PATH\tDATASTORES\tCBT\tSNAPSHOTS\tDISKS\tSTATUS")
	for _, ck := range checks {
		var dss []string
		for _, d := range ck.Datastores {
			dss = append(dss, fmt.Sprintf("%s (%s)", d.Name, d.Type))
		}
		backed := 0
		for _, d := range ck.Disks {
			if d.BackedUp {
				backed++
			}
		}
		cbt := "off"
		if ck.CBT {
			cbt = "on"
		}
		path := ck.DataPath
		if path == "" {
			path = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%s\n", oneline.Escape(ck.VM), ck.Power, oneline.Escape(ck.Host), path,
			oneline.Escape(strings.Join(dss, ", ")), cbt, len(ck.Snapshots), backed, len(ck.Disks), ck.Status)
	}
	tw.Flush()
	missing := false
	for _, ck := range checks {
		for _, f := range ck.Findings {
			if f.Severity == vm.SevInfo {
				continue
			}
			fmt.Fprintf(w, "%s: %s %s: %s\n", oneline.Escape(ck.VM), severityWord(f.Severity), f.Check, oneline.Escape(f.Message))
			missing = missing || f.Check == "privileges"
		}
	}
	if target != nil {
		for _, f := range target.Findings {
			fmt.Fprintf(w, "target %s: %s: %s\n", oneline.Escape(target.URL), severityWord(f.Severity), oneline.Escape(f.Message))
		}
	}
	if missing {
		fmt.Fprintf(w, "the role a backup needs (%s, docs/real-vsphere.md#privileges): %s\n", vm.BackupRoleName, strings.Join(roleIDs(), " "))
	}
	fmt.Fprintf(w, "%d VM(s): %d ok, %d with warnings, %d blocked\n", len(checks), counts[vm.StatusOK], counts[vm.StatusWarn], counts[vm.StatusBlocked])
}

func severityWord(s vm.Severity) string {
	if s == vm.SevBlock {
		return "BLOCKS"
	}
	return string(s)
}
