package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
)

// hostileCase is one attack: the script, and how it must be refused.
type hostileCase struct {
	name     string
	script   string
	opts     func(*runtime.Options)
	wantCode string
	wantMsg  string
}

// luaLiteral renders a JSON-shaped value as a Lua table constructor.
func luaLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return strconv.Quote(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = luaLiteral(e)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "[" + strconv.Quote(k) + "] = " + luaLiteral(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	panic(fmt.Sprintf("luaLiteral: %T", v))
}

// crafted returns the set's catalog, changed by edit, as a Lua table
// constructor for backup.restore's catalog=.
func crafted(t *testing.T, base []byte, edit func(c map[string]any)) string {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(base, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	return luaLiteral(c)
}

// fileOfKind returns the catalog's file entry of a kind.
func fileOfKind(c map[string]any, kind string) map[string]any {
	for _, f := range c["files"].([]any) {
		if m := f.(map[string]any); m["kind"] == kind {
			return m
		}
	}
	panic("no file of kind " + kind)
}

func firstDisk(c map[string]any) map[string]any { return c["disks"].([]any)[0].(map[string]any) }

// renameFile renames a file of the catalog everywhere it is referenced.
func renameFile(c map[string]any, kind, to string) {
	f := fileOfKind(c, kind)
	from := f["name"]
	f["name"] = to
	for _, d := range c["disks"].([]any) {
		dm := d.(map[string]any)
		for _, k := range []string{"file", "descriptor"} {
			if dm[k] == from {
				dm[k] = to
			}
		}
	}
}

// TestHostileScriptsThroughModules is the module half of the hostile
// battery (runtime.TestHostileScripts is the sandbox half): every script
// tries to reach outside what the operator granted through a module. Each
// is refused with the expected error code and a message saying why,
// nothing appears outside the granted target and the datastores, and the
// host (this test process) keeps running.
func TestHostileScriptsThroughModules(t *testing.T) {
	w := startWorld(t)

	// one real set of the powered-off VM to restore from, and its catalog
	if err := w.run(t, `require("vm").open("name:H02"):backup{to = arg.dest, compress = "none"}`, nil); err != nil {
		t.Fatalf("the set the restore cases start from: %v", err)
	}
	sets, _ := filepath.Glob(filepath.Join(w.target, "H02", "*", catalog.FileName))
	if len(sets) != 1 {
		t.Fatalf("want one set of H02, found %v", sets)
	}
	base, err := os.ReadFile(sets[0])
	if err != nil {
		t.Fatal(err)
	}
	var cat catalog.Catalog
	if err := json.Unmarshal(base, &cat); err != nil {
		t.Fatal(err)
	}
	setID := cat.ID
	restoreWith := func(catTable string, extra string) string {
		return fmt.Sprintf(`require("backup").restore{from = arg.dest, set = %q, datastore = "LocalDS_1", name = "H02-restored", catalog = %s %s}`, setID, catTable, extra)
	}
	restoreAs := func(opts string) string {
		return fmt.Sprintf(`require("backup").restore{from = arg.dest, set = %q, %s}`, setID, opts)
	}

	// grants for the URL cases: an SFTP and an SMB prefix on loopback
	// ports where nothing listens, so a URL that passes the grant fails
	// to connect (transport), one that does not is not_granted.
	sftpGrant := "sftp://backup@127.0.0.1:1/backups/db01"
	smbGrant := "smb://backup@127.0.0.1:1/share/backups"
	v6Grant := "sftp://backup@[::1]:1/backups"
	grantURLs := func(o *runtime.Options) {
		for _, g := range []string{sftpGrant, smbGrant, v6Grant} {
			if err := o.Grants.Allow(g); err != nil {
				t.Fatal(err)
			}
		}
	}
	open := func(u string) string { return fmt.Sprintf(`require("transport").open(%q)`, u) }
	short := func(o *runtime.Options) { o.Timeout = 2 * time.Second }
	withT := func(body string) string {
		return `local t = require("transport").open(arg.dest)` + "\n" + body
	}

	cases := []hostileCase{
		// transport paths
		{"writing ../../etc/x through a transport is refused", withT(`t:write("../../etc/x", "pwned")`), nil, runtime.CodeInvalidArg, ".."},
		{"writing an absolute path through a transport is refused", withT(`t:write("/etc/x", "pwned")`), nil, runtime.CodeInvalidArg, "absolute"},
		{"writing a path that climbs back in and out is refused", withT(`t:write("a/../../outside/x", "pwned")`), nil, runtime.CodeInvalidArg, ".."},
		{"reading a file outside the target through .. is refused", withT(`return t:read("../outside/secret.txt")`), nil, runtime.CodeInvalidArg, ".."},
		{"listing the target's parent is refused", withT(`return t:list("..")`), nil, runtime.CodeInvalidArg, ".."},
		{"making a folder outside the target is refused", withT(`t:mkdir("../outside/made")`), nil, runtime.CodeInvalidArg, ".."},
		{"renaming a file out of the target is refused", withT(`t:write("inside.txt", "x"); t:rename("inside.txt", "../outside/moved.txt")`), nil, runtime.CodeInvalidArg, ".."},
		{"removing a file outside the target is refused", withT(`t:remove("../outside/secret.txt")`), nil, runtime.CodeInvalidArg, ".."},
		{"a backslash path is refused", withT(`t:write("..\\..\\etc\\x", "pwned")`), nil, runtime.CodeInvalidArg, ""},
		{"a NUL byte in a path is refused", withT(`t:write("ok\0/../../etc/x", "pwned")`), nil, runtime.CodeInvalidArg, ""},

		// symlinks on a file:// target
		{"reading through a symlink to a file outside the target is refused", withT(`return t:read("link.txt")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"reading through a symlinked folder outside the target is refused", withT(`return t:read("escape/secret.txt")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"writing through a symlinked folder outside the target is refused", withT(`t:write("escape/new.txt", "pwned")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"reading through a relative symlink that climbs out is refused", withT(`return t:read("relup/secret.txt")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"writing through a dangling symlink replaces the link, not the file outside", withT(`t:write("dangling", "x"); error("wrote " .. t:read("dangling"))`), nil, runtime.CodeError, "wrote x"},
		{"writing into a symlink to /etc is refused", withT(`t:write("etc/x", "pwned")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"listing a symlinked folder outside the target is refused", withT(`return t:list("escape")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"renaming onto a symlinked folder outside the target is refused", withT(`t:write("inside2.txt", "x"); t:rename("inside2.txt", "escape/moved.txt")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
		{"removing through a symlinked folder outside the target is refused", withT(`t:remove("escape/secret.txt")`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},

		// big payloads
		{"a t:write payload above the limit is refused", withT(`t:write("big", string.rep("x", 16*1024*1024 + 1))`), nil, runtime.CodeInvalidArg, "small files only"},
		{"many writes of 16 MiB cannot bypass the limit with one concatenation", withT(`local s = string.rep("x", 16*1024*1024); t:write("big2", s .. s)`), nil, runtime.CodeInvalidArg, "small files only"},

		// URLs escaping their grant
		{"a file URL climbing out of the grant is refused", open("file://TARGET/../outside"), nil, runtime.CodeInvalidArg, "'..' is not allowed"},
		{"a file URL with percent-encoded dot-segments is refused", open("file://TARGET/%2e%2e/outside"), nil, runtime.CodeInvalidArg, "'..' is not allowed"},
		{"a file URL with an encoded slash is refused", open("file://TARGET%2f..%2foutside"), nil, runtime.CodeInvalidArg, "'..' is not allowed"},
		{"a file URL outside the grant by case is refused", open("file://" + "ROOT/TARGET-UPPER"), nil, runtime.CodeNotGranted, "not granted"},
		{"a file URL for a sibling sharing the prefix is refused", open("file://TARGET-sibling"), nil, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL whose path differs by case is refused", open("sftp://backup@127.0.0.1:1/backups/DB01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL with an upper-case user is refused", open("sftp://BACKUP@127.0.0.1:1/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL with a percent-encoded dot-segment is refused", open("sftp://backup@127.0.0.1:1/backups/db01/%2E%2E/%2e%2e/etc"), grantURLs, runtime.CodeInvalidArg, ""},
		{"an SFTP URL with a trailing @ after the host is refused", open("sftp://backup@127.0.0.1:1@evil.example/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL whose userinfo hides another host is refused", open("sftp://backup@127.0.0.1:1/backups/db01@evil.example:22/x"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL with a user made of the granted host is refused", open("sftp://127.0.0.1:1@evil.example/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL with an encoded @ in the user is refused", open("sftp://backup%40127.0.0.1@evil.example/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL carrying a password is refused", open("sftp://backup:hunter2@127.0.0.1:1/backups/db01"), grantURLs, runtime.CodeInvalidArg, "carries a password"},
		{"an SFTP URL on another port is refused", open("sftp://backup@127.0.0.1:2/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SFTP URL without the granted port is refused", open("sftp://backup@127.0.0.1/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"the IPv6 loopback for a share granted on the IPv4 loopback is refused", open("smb://backup@[::1]:1/share/backups"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an IPv6 URL under another path than its grant is refused", open("sftp://backup@[0:0:0:0:0:0:0:1]:1/etc"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an IPv6 zone on the granted address is refused", open("sftp://backup@[::1%25lo]:1/backups"), grantURLs, runtime.CodeInvalidArg, "neither a name nor an IP address"},
		{"an IPv6 host granted without brackets cannot be reached by 0::1 with a path escape", open("sftp://backup@[0::1]:1/backups/../etc"), grantURLs, runtime.CodeInvalidArg, ".."},
		{"a hostname for the granted loopback address is refused", open("sftp://backup@localhost:1/backups/db01"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"an SMB URL to another share of the granted host is refused", open("smb://backup@127.0.0.1:1/admin$/backups"), grantURLs, runtime.CodeNotGranted, "not granted"},
		{"a cifs URL with dot-segments past the granted share is refused", open("cifs://backup@127.0.0.1:1/share/backups/../../admin$"), grantURLs, runtime.CodeInvalidArg, ".."},

		// export and backup targets
		{"exporting a disk to a URL climbing out of the target is refused", `local v = require("vm").open("name:H02"); v:export("scsi0:0", arg.dest .. "/../..")`, nil, runtime.CodeInvalidArg, "'..' is not allowed"},
		{"exporting a disk under a name that climbs out keeps only its base name, inside the target", `local v = require("vm").open("name:H02"); local r = v:export("scsi0:0", arg.dest, {name = "../../outside/disk"}); error("landed at " .. r.path)`, nil, runtime.CodeError, "landed at disk-flat.vmdk"},
		{"backing up to a URL climbing out of the target is refused", `require("vm").open("name:H02"):backup{to = arg.dest .. "/../outside"}`, nil, runtime.CodeInvalidArg, "'..' is not allowed"},
		// H1: a URL through a symlink inside the granted folder is judged by
		// where it resolves, not by its spelling
		{"opening a URL through a symlink that leads out of the grant is refused", `require("transport").open(arg.dest .. "/escape")`, nil, runtime.CodeNotGranted, "is not granted"},
		{"exporting to a URL through a symlink that leads out of the grant is refused", `local v = require("vm").open("name:H02"); v:export("scsi0:0", arg.dest .. "/escape")`, nil, runtime.CodeNotGranted, "is not granted"},
		{"backing up to a URL through a symlink that leads out of the grant is refused", `require("vm").open("name:H02"):backup{to = arg.dest .. "/relup"}`, nil, runtime.CodeNotGranted, "is not granted"},

		// question.watch handlers
		{"a question handler that never returns is stopped by the run's timeout", `require("question").watch{vms = "name:H01", handler = function(v, q) while true do end end}`, short, runtime.CodeTimeout, ""},
		{"a question handler that waits forever in another watch is stopped by the timeout", `local question = require "question"; question.watch{vms = "name:H01", handler = function(v, q) question.watch{vms = "name:H02"} end}`, short, runtime.CodeTimeout, ""},

		// metatables on values returned by modules
		{"getmetatable on a transport handle gives only the protected name", withT(`local mt = getmetatable(t); assert(type(mt) == "string", "metatable exposed"); error("the metatable is " .. mt)`), nil, runtime.CodeError, "the metatable is vmlua.Transport"},
		{"getmetatable on a VM handle gives only the protected name", `local v = require("vm").open("name:H02"); local mt = getmetatable(v); assert(type(mt) == "string", "metatable exposed"); rawset(mt, "__index", {})`, nil, runtime.CodeError, "table expected, got string"},
		{"setmetatable on a transport handle is refused", withT(`setmetatable(t, {__index = function() return os.exit end})`), nil, runtime.CodeError, "cannot change a protected metatable"},
		{"setmetatable on a module's error value is refused", `local ok, e = pcall(require("transport").open, "ftp://nowhere/x"); setmetatable(e, {})`, nil, runtime.CodeError, "cannot change a protected metatable"},
		{"a transport method called on a VM handle is refused", `local t = require("transport").open(arg.dest); local v = require("vm").open("name:H02"); t.write(v, "x", "y")`, nil, runtime.CodeError, "Transport expected, got userdata"},
		{"a __gc finaliser on a returned table never runs host code", `local s = require("backup").list{at = arg.dest}; setmetatable(s, {__gc = function() os.exit(1) end}); s = nil; collectgarbage(); collectgarbage(); error("still running")`, nil, runtime.CodeError, "still running"},
		{"an __index on a returned table cannot bring io back", `local s = require("backup").list{at = arg.dest}; setmetatable(s, {__index = function() return io end}); s.x.open("/etc/passwd")`, nil, runtime.CodeSandbox, "io.open is not available"},
		{"a catalog whose fields come from __index is refused", restoreWith(`setmetatable({}, {__index = function(_, k) return k == "schema" and "vmlua.backup.catalog" or "x" end})`, ""), nil, runtime.CodeInvalidArg, "invalid catalog"},
		{"a set id given as a table with __tostring is refused", `require("backup").verify{at = arg.dest, set = setmetatable({}, {__tostring = function() return "../outside" end})}`, nil, runtime.CodeError, "string expected, got table"},

		// crafted catalogs for restore
		{"a catalog naming a file with ../ is refused", restoreWith(crafted(t, base, func(c map[string]any) { renameFile(c, catalog.KindConfig, "../../../outside/H02.vmx") }), ""), nil, runtime.CodeInvalidArg, "not a plain name"},
		{"a catalog naming an absolute file is refused", restoreWith(crafted(t, base, func(c map[string]any) { renameFile(c, catalog.KindNvram, "/etc/x") }), ""), nil, runtime.CodeInvalidArg, "not a plain name"},
		{"a catalog whose disk descriptor climbs out of the folder is refused", restoreWith(crafted(t, base, func(c map[string]any) { renameFile(c, catalog.KindDescriptor, "../H01/H01.vmdk") }), ""), nil, runtime.CodeInvalidArg, "not a plain name"},
		{"a catalog with a backslash file name is refused", restoreWith(crafted(t, base, func(c map[string]any) { renameFile(c, catalog.KindDisk, `..\..\outside\disk`) }), ""), nil, runtime.CodeInvalidArg, "not a plain name"},
		{"a catalog whose VM is named .. is refused", restoreWith(crafted(t, base, func(c map[string]any) { c["vm"].(map[string]any)["name"] = ".." }), `, name = nil`), nil, runtime.CodeInvalidArg, "cannot be a folder on the datastore"},
		{"restoring under the name .. is refused", restoreAs(`datastore = "LocalDS_1", name = ".."`), nil, runtime.CodeInvalidArg, "cannot be a folder on the datastore"},
		{"restoring under the name . is refused", restoreAs(`datastore = "LocalDS_1", name = "."`), nil, runtime.CodeInvalidArg, "cannot be a folder on the datastore"},
		{"a catalog whose disk id injects vmx lines is refused", restoreWith(crafted(t, base, func(c map[string]any) {
			firstDisk(c)["id"] = "scsi0:0.fileName = \"/vmfs/volumes/LocalDS_0/H01/H01.vmdk\"\nscsi0:0"
		}), ""), nil, runtime.CodeInvalidArg, "is not a disk id like scsi0:1"},
		{"a catalog whose skipped disk id injects vmx lines is refused", restoreWith(crafted(t, base, func(c map[string]any) {
			c["skipped"] = []any{map[string]any{"id": "scsi0:1.present = \"TRUE\"\nscsi0:1.fileName = \"/etc/x\"\nx", "reason": "crafted"}}
		}), ""), nil, runtime.CodeInvalidArg, "is not a disk id like scsi0:1"},
		{"a catalog whose datastore climbs out is refused", restoreWith(crafted(t, base, func(c map[string]any) { c["vm"].(map[string]any)["vmx"] = "[../../outside] H02/H02.vmx" }), `, datastore = nil`), nil, runtime.CodeNotFound, "datastore"},
		{"a datastore= that climbs out is refused", restoreAs(`datastore = "LocalDS_1/../..", name = "H02-x"`), nil, runtime.CodeNotFound, "datastore"},
		{"a set id climbing out of the target is refused", `require("backup").restore{from = arg.dest, set = "../outside", datastore = "LocalDS_1", name = "H02-y"}`, nil, runtime.CodeInvalidArg, "is not a timestamp"},
		{"an alternate catalog path climbing out of the target is refused", restoreAs(`datastore = "LocalDS_1", name = "H02-z", catalog = "../outside/catalog.json"`), nil, runtime.CodeInvalidArg, "leaves the transport's root"},
	}
	if len(cases) < 40 {
		t.Fatalf("the module battery has %d cases; the issue asks for at least 40 with the sandbox's", len(cases))
	}
	// a question for the handler cases to receive
	if _, err := w.sim.Ask("H01", "hostile: a question for the handler cases", "OK", "Cancel"); err != nil {
		t.Fatal(err)
	}
	before := w.snapshot(t)
	rep := strings.NewReplacer("ROOT/TARGET-UPPER", strings.ToUpper(w.target), "TARGET", w.target)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := w.run(t, rep.Replace(tc.script), tc.opts)
			if err == nil {
				t.Fatalf("the script was not refused")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") && tc.wantCode != runtime.CodeError {
				t.Errorf("the error is not one line: %q", msg)
			}
			if tc.wantCode != "" && errCode(err) != tc.wantCode {
				t.Errorf("error code %q, want %q: %v", errCode(err), tc.wantCode, err)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("the error does not say %q: %v", tc.wantMsg, err)
			}
			if after := w.snapshot(t); !slices.Equal(before, after) {
				t.Errorf("something changed outside the target and the datastores:\nbefore %v\nafter  %v", before, after)
			}
			t.Logf("refused: %s: %v", errCode(err), err)
		})
	}
}
