package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/host"
	"github.com/vmlua/vmlua/modules/vm"
)

func init() { register(func() verb { return &hostVerb{} }) }

// hostVerb is vmlua host: ESXi hosts.
type hostVerb struct{ noFlags }

func (*hostVerb) About() about {
	return about{
		name:    "host",
		summary: "ESXi hosts (vmlua host maintenance enter|exit HOST)",
		usage:   "Usage: vmlua host maintenance enter|exit [FLAGS] HOST\n\nESXi hosts. 'vmlua host maintenance enter --help' for the flags.",
		subs:    []verb{&hostMaintenanceVerb{}},
	}
}

func (*hostVerb) Run(inv *call, _ []string) int { return inv.usageError() }

// hostMaintenanceVerb is vmlua host maintenance.
type hostMaintenanceVerb struct{ noFlags }

func (*hostMaintenanceVerb) About() about {
	return about{
		name:    "maintenance",
		summary: "put a host in maintenance mode or take it out",
		usage:   "Usage: vmlua host maintenance enter|exit [FLAGS] HOST\n\nPuts an ESXi host in maintenance mode, or takes it out. 'vmlua host maintenance enter --help' for the flags.",
		subs:    []verb{&maintenanceVerb{on: true}, &maintenanceVerb{}},
	}
}

func (*hostMaintenanceVerb) Run(inv *call, _ []string) int { return inv.usageError() }

// maintenanceVerb is vmlua host maintenance enter (on) and exit.
type maintenanceVerb struct {
	o  opFlags
	on bool
}

func (v *maintenanceVerb) About() about {
	if v.on {
		return about{
			name:    "enter",
			summary: "put an ESXi host in maintenance mode and wait",
			usage: `Usage: vmlua host maintenance enter [FLAGS] HOST

Puts the ESXi host HOST (its name as the inventory shows it, or moref:host-N) in maintenance
mode and waits until it is: its VMs must be powered off or moved first. The same as
h:enter_maintenance() of the host module (host_config_restore.lua needs it).

Flags:`,
			footer: "Exit status: 0 done (also when it already was), 1 vSphere refused, " + opFooter + ".",
		}
	}
	return about{
		name:    "exit",
		summary: "take an ESXi host out of maintenance mode and wait",
		usage: `Usage: vmlua host maintenance exit [FLAGS] HOST

Takes the ESXi host HOST (its name as the inventory shows it, or moref:host-N) out of
maintenance mode and waits until it is. The same as h:exit_maintenance() of the host module.

Flags:`,
		footer: "Exit status: 0 done (also when it was not in maintenance mode), 1 vSphere refused, " + opFooter + ".",
	}
}

func (v *maintenanceVerb) Flags(fs *flag.FlagSet) { v.o.register(fs, false, true) }

func (v *maintenanceVerb) Run(inv *call, pos []string) int {
	if len(pos) != 1 {
		return inv.usageError()
	}
	spec, err := host.ParseSpec(pos[0])
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua host maintenance: %v\n", err)
		return exitUsage
	}
	x, code := v.o.start(inv, "")
	if x == nil {
		return code
	}
	defer x.close()
	res := map[string]any{"host": pos[0], "dry_run": x.r.DryRun}
	c, err := vm.Connect(x.r, "")
	if err != nil {
		return x.fail(err, res)
	}
	hs, err := host.Find(x.r.Context(), c, spec)
	if err != nil {
		return x.fail(err, res)
	}
	switch len(hs) {
	case 0:
		return x.fail(nothingThere("no host matches %s", pos[0]), res)
	case 1:
	default:
		names := make([]string, len(hs))
		for i, h := range hs {
			names[i] = h.Name
		}
		return x.fail(usageErr("%s matches %d hosts (%s): name one", pos[0], len(hs), strings.Join(names, ", ")), res)
	}
	h := hs[0]
	res["host"], res["moref"] = h.Name, h.Ref.Value
	if err := h.Maintenance(x.r, v.on); err != nil {
		return x.fail(err, res)
	}
	res["maintenance"] = h.Maint
	if !v.o.json {
		state := "in maintenance mode"
		if !h.Maint {
			state = "out of maintenance mode"
		}
		if x.r.DryRun {
			state = "unchanged (dry run)"
		}
		fmt.Fprintf(x.stdout, "%s (%s): %s\n", oneline.Escape(h.Name), h.Ref.Value, state)
	}
	x.result(exitOK, nil, res)
	return exitOK
}
