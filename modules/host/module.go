package host

import (
	"fmt"

	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/backup/sets"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "host" Lua module.
var Module = &runtime.Module{
	Name:    "host",
	Summary: "ESXi hosts: look-ups, maintenance mode, configuration summary, and configuration bundle backup/restore (vim-cmd hostsvc/firmware).",
	Doc: "The connection is the vm module's (the operator's profile). `h:backup_config(dest)` stores `configBundle-<host>.tgz` and its sidecar " +
		"`configBundle-<host>.json` (host, version, build, uuid, bytes, sha256; written last, so a bundle without it is incomplete). " +
		"`h:restore_config(src)` needs maintenance mode, the same host and build (unless force=true) and a bundle whose sha256 matches its sidecar; the host reboots after it. " +
		"Through vCenter the bundle URLs name the ESXi host itself, which vmlua must then reach; see docs/migrating.md.\n\n" +
		"In a dry run nothing changes on a host, but the dry run sees what it would have done: after a dry `h:enter_maintenance()` " +
		"the host is in maintenance mode for the rest of the run (`h.maintenance`, `h:refresh()`, `host.find`, and `h:restore_config`'s check), " +
		"`h:backup` returns the catalog a real run would write (host_config included) with dry_run=true, and `h:backup_config` and " +
		"`h:restore_config` run every check (connection, maintenance mode, build, the bundle's sha256) and return the sidecar with dry_run=true.",
	Types: []*runtime.Type{HostType},
}

// HostType is the Lua type of a host.
var HostType = &runtime.Type{
	Name:    "Host",
	Summary: "An ESXi host.",
	Fields: []runtime.Field{
		{Name: "name", Type: "string", Doc: "host name as the inventory shows it"},
		{Name: "moref", Type: "string", Doc: "managed object id, e.g. host-21 (ha-host on a standalone ESXi)"},
		{Name: "version", Type: "string", Doc: `ESXi version, e.g. "8.0.2"`},
		{Name: "build", Type: "string", Doc: `ESXi build number, e.g. "22380479"`},
		{Name: "uuid", Type: "string", Doc: "hardware (BIOS) UUID"},
		{Name: "connection_state", Type: "string", Doc: `"connected", "disconnected" or "notResponding" (as of the last refresh)`},
		{Name: "maintenance", Type: "boolean", Doc: "in maintenance mode (as of the last refresh)"},
		{Name: "cluster", Type: "string|nil", Doc: "the cluster it belongs to; nil for a standalone host"},
	},
	Get:    hostField,
	String: func(o any) string { h := o.(*Host); return fmt.Sprintf("Host(%s, %s)", h.Name, h.Ref.Value) },
}

func init() {
	Module.Funcs = []runtime.Func{
		{Name: "list", Returns: "{Host}", Doc: "Returns every host of the connection, sorted by name.", Fn: luaList},
		{Name: "find", Args: []runtime.Arg{{Name: "spec", Type: "string", Doc: "name:GLOB, moref:host-N, any:, none: (a bare word is a name)"}}, Returns: "{Host}",
			Doc: "Returns the hosts matching the specifier, sorted by name (possibly empty).", Fn: luaFind},
	}
	dest := func(doc string) runtime.Arg { return runtime.Arg{Name: "dest", Type: "Transport|string", Doc: doc} }
	bundleName := runtime.Option{Name: "name", Type: "string", Doc: "the bundle's file name (default configBundle-<host>.tgz)"}
	credentials := runtime.Option{Name: "credentials", Type: "string", Doc: "named credentials from the config, for a URL"}
	HostType.Methods = []runtime.Func{
		{Name: "refresh", Doc: "Reloads the host's properties (connection state, maintenance mode, build).", Fn: luaRefresh},
		{Name: "enter_maintenance", Doc: "Puts the host in maintenance mode and waits (its VMs must be powered off or moved first).", Fn: luaMaint(true)},
		{Name: "exit_maintenance", Doc: "Takes the host out of maintenance mode and waits.", Fn: luaMaint(false)},
		{Name: "config_summary", Returns: "table",
			Doc: "Returns the host's configuration as plain data a script can compare between two backups: " +
				"{ntp={servers}, time_zone=, dns={hostname=, domain=, servers={}, search={}}, syslog= (Syslog.global.logHost), " +
				"vswitches={ {name=, ports=, mtu=, uplinks={}, portgroups={ {name=, vlan=} }} }, advanced={key=value as strings}}.", Fn: luaSummary},
		{Name: "backup_config", Args: []runtime.Arg{dest("a transport handle or a granted URL (a folder)"), {Name: "options", Type: "table", Optional: true, Doc: "the bundle's name", Options: []runtime.Option{bundleName, credentials}}}, Returns: "table",
			Doc: "Backs up the host's configuration (vim-cmd hostsvc/firmware/backup_config): asks the host for a bundle, downloads it over the session into dest atomically, " +
				"then writes its sidecar NAME.json. Returns {host=, moref=, version=, build=, uuid=, file=, bytes=, sha256=, taken=}. " +
				"A download cut short leaves nothing behind.", Fn: luaBackupConfig},
		{Name: "backup", Args: []runtime.Arg{{Name: "options", Type: "table", Doc: "where the set goes and what to keep", Options: []runtime.Option{
			{Name: "to", Type: "Transport|string", Required: true, Doc: "the target: a Transport or a granted URL"},
			{Name: "keep", Type: "integer", Doc: "then prune the host's sets to the last N"},
			backup.PolicyOption,
			{Name: "break_lock", Type: "boolean", Default: "false", Doc: "take the host folder's lock on the target even if another run holds it"},
			credentials,
		}}}, Returns: "table",
			Doc: "Backs the host's configuration up into a backup set host/<host>/<UTC time>/ (the bundle, its sidecar, catalog.json last), under the folder's lock, as a VM's set: " +
				"backup.list/verify/prune take host=<name>. On failure the partial set is removed. With keep= or policy= the host's sets are pruned afterwards. Returns the catalog as a table.", Fn: luaBackupSet},
		{Name: "restore_config", Args: []runtime.Arg{dest("where backup_config wrote the bundle, or the target of h:backup's sets (a transport handle or a granted URL)"), {Name: "options", Type: "table", Optional: true, Doc: "which bundle", Options: []runtime.Option{
			bundleName,
			{Name: "set", Type: "string", Doc: `a set id of h:backup, or "latest": the newest complete set of this host`},
			{Name: "force", Type: "boolean", Default: "false", Doc: "apply a bundle of another build or host"},
			credentials,
		}}}, Returns: "table",
			Doc: "Restores a configuration bundle (vim-cmd hostsvc/firmware/restore_config): refuses unless the host is in maintenance mode, " +
				"refuses a bundle whose recorded build or uuid differs from the host's unless force=true, checks the bundle's size and sha256 against its sidecar, " +
				"then uploads it and has the host apply it (the host reboots and stays in maintenance mode). Returns the bundle's sidecar as a table.", Fn: luaRestoreConfig},
	}
}

func self(r *runtime.Run, L *lua.LState) *Host { return r.CheckObject(L, 1, HostType).(*Host) }

func hostList(r *runtime.Run, L *lua.LState, hs []*Host) int {
	t := L.NewTable()
	for _, h := range hs {
		t.Append(r.NewObject(L, HostType, h))
	}
	L.Push(t)
	return 1
}

func luaList(r *runtime.Run, L *lua.LState) int {
	c, err := vm.RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	hs, err := List(r.Context(), c)
	if err != nil {
		return r.Raise(L, err)
	}
	overlay(r, hs...)
	return hostList(r, L, hs)
}

func luaFind(r *runtime.Run, L *lua.LState) int {
	spec, err := ParseSpec(L.CheckString(1))
	if err != nil {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "%v", err)
	}
	c, err := vm.RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	hs, err := Find(r.Context(), c, spec)
	if err != nil {
		return r.Raise(L, err)
	}
	overlay(r, hs...)
	return hostList(r, L, hs)
}

func hostField(r *runtime.Run, L *lua.LState, o any, key string) lua.LValue {
	h := o.(*Host)
	switch key {
	case "name":
		return lua.LString(h.Name)
	case "moref":
		return lua.LString(h.Ref.Value)
	case "version":
		return lua.LString(h.Version)
	case "build":
		return lua.LString(h.Build)
	case "uuid":
		return lua.LString(h.UUID)
	case "connection_state":
		return lua.LString(h.State)
	case "maintenance":
		return lua.LBool(h.Maint)
	case "cluster":
		if h.Cluster == "" {
			return lua.LNil
		}
		return lua.LString(h.Cluster)
	}
	return lua.LNil
}

func luaRefresh(r *runtime.Run, L *lua.LState) int {
	if err := self(r, L).refresh(r); err != nil {
		return r.Raise(L, err)
	}
	return 0
}

func luaMaint(on bool) func(*runtime.Run, *lua.LState) int {
	return func(r *runtime.Run, L *lua.LState) int {
		if err := self(r, L).Maintenance(r, on); err != nil {
			return r.Raise(L, err)
		}
		return 0
	}
}

func luaSummary(r *runtime.Run, L *lua.LState) int {
	s, err := self(r, L).ConfigSummary(r.Context())
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(backup.JSONToLua(L, s))
	return 1
}

func luaBackupConfig(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	o := runtime.OptionsTable(L, 3)
	d, err := modtransport.Dest(r, L, 2, runtime.OptString(L, o, "credentials", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	m, err := h.BackupConfig(r, d.T, runtime.OptString(L, o, "name", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(metaTable(r, L, m))
	return 1
}

func luaRestoreConfig(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	o := runtime.OptionsTable(L, 3)
	d, err := modtransport.Dest(r, L, 2, runtime.OptString(L, o, "credentials", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	force := false
	switch v := o.RawGetString("force").(type) {
	case lua.LBool:
		force = bool(v)
	case *lua.LNilType:
	default:
		L.RaiseError("option force: boolean expected, got %s", v.Type().String())
	}
	name := runtime.OptString(L, o, "name", "")
	if set := runtime.OptString(L, o, "set", ""); set != "" {
		id, err := latestSet(r, d.T, h, set)
		if err != nil {
			return r.Raise(L, err)
		}
		name = id + "/" + BundleName(h.Name)
	}
	m, err := h.RestoreConfig(r, d.T, RestoreOptions{Name: name, Force: force})
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(metaTable(r, L, m))
	return 1
}

// metaTable is a bundle's sidecar as a Lua table, with dry_run=true in a
// dry run (nothing was backed up or restored).
func metaTable(r *runtime.Run, L *lua.LState, m Meta) lua.LValue {
	v := backup.JSONToLua(L, m)
	if t, ok := v.(*lua.LTable); ok && r.DryRun {
		t.RawSetString("dry_run", lua.LTrue)
	}
	return v
}

func luaBackupSet(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	o := runtime.OptionsTable(L, 2)
	if o.RawGetString("to") == lua.LNil {
		L.RaiseError("option to is required: a Transport (transport.open) or a granted URL")
	}
	L.Push(o.RawGetString("to"))
	d, err := modtransport.Dest(r, L, L.GetTop(), runtime.OptString(L, o, "credentials", ""))
	L.Pop(1)
	if err != nil {
		sets.SetFailed(r, SetOwner(h.Name), true)
		return r.Raise(L, err)
	}
	var so SetOptions
	so.Keep.Last = runtime.OptInt(L, o, "keep", 0)
	switch pt := o.RawGetString("policy").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		if n := runtime.OptInt(L, pt, "last", 0); n > so.Keep.Last {
			so.Keep.Last = n
		}
		so.Keep.Daily, so.Keep.Weekly = runtime.OptInt(L, pt, "daily", 0), runtime.OptInt(L, pt, "weekly", 0)
		so.Keep.Monthly, so.Keep.Yearly = runtime.OptInt(L, pt, "monthly", 0), runtime.OptInt(L, pt, "yearly", 0)
	default:
		L.RaiseError("option policy: a table {last=, daily=, weekly=, monthly=, yearly=} expected")
	}
	if v, ok := o.RawGetString("break_lock").(lua.LBool); ok {
		so.BreakLock = bool(v)
	}
	cat, err := h.BackupSet(r, d.T, so)
	if err != nil {
		return r.Raise(L, err)
	}
	t, _ := backup.JSONToLua(L, cat).(*lua.LTable)
	if t != nil {
		t.RawSetString("path", lua.LString(cat.ID))
	}
	L.Push(t)
	return 1
}
