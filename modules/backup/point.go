package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/vmlua/vmlua/internal/guestfs"
	"github.com/vmlua/vmlua/modules/backup/sets/pointfiles"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	lua "github.com/yuin/gopher-lua"
)

// The backup module's restore points open for reading (backup.open_point):
// a test-restore drill reads a file of the newest point without
// restoring the VM. Registered after module.go's init (file order).

// ReadMax is the most a Point's read returns into the script (a bigger
// file is copied to a target with :copy, never through a Lua string).
const ReadMax = 16 << 20

// openPoint is the Lua object of an open restore point.
type openPoint struct {
	p    *pointfiles.Point
	vm   string
	done *runtime.CleanupItem
}

// PointType is the Lua type of backup.open_point's result.
var PointType = &runtime.Type{
	Name:    "Point",
	Summary: "A restore point open for reading its disks' files (backup.open_point), read-only, every byte checked against the catalog.",
	Fields: []runtime.Field{
		{Name: "set", Type: "string", Doc: "the point's set id (VM/TIMESTAMP)"},
		{Name: "vm", Type: "string", Doc: "the VM's name"},
		{Name: "disks", Type: "table", Doc: "the point's disks: { {id=, path=, capacity=} } in the catalog's order"},
	},
	Get: func(r *runtime.Run, L *lua.LState, obj any, key string) lua.LValue {
		o := obj.(*openPoint)
		switch key {
		case "set":
			return lua.LString(o.p.Catalog.ID)
		case "vm":
			return lua.LString(o.vm)
		case "disks":
			t := L.NewTable()
			for _, d := range o.p.Catalog.Disks {
				e := L.NewTable()
				e.RawSetString("id", lua.LString(d.ID))
				e.RawSetString("path", lua.LString(d.Path))
				e.RawSetString("capacity", lua.LNumber(d.Capacity))
				t.Append(e)
			}
			return t
		}
		return nil
	},
	String: func(obj any) string { return "Point(" + obj.(*openPoint).p.Catalog.ID + ")" },
}

func init() {
	diskOpt := runtime.Option{Name: "disk", Type: "string", Doc: "the disk id (default: the point's first disk)"}
	pathArg := runtime.Arg{Name: "path", Type: "string", Doc: "an absolute guest path, \"/etc/hostname\", or \"2:/etc/hostname\" for partition 2 when the disk holds several file systems"}
	optArg := func(opts ...runtime.Option) runtime.Arg {
		return runtime.Arg{Name: "options", Type: "table", Optional: true, Doc: "a table of options (below)", Options: opts}
	}
	PointType.Methods = []runtime.Func{
		{Name: "partitions", Args: []runtime.Arg{optArg(diskOpt)}, Returns: "table",
			Doc: "The disk's partitions (MBR or GPT; the whole disk, number=0, when it has no table): { {number=, start=, size=, table=, type=, name=, fs=, readable=} }; fs names the file system found (ext4, fat16, ntfs, ...), readable whether :files and :read read it.", Fn: luaPointPartitions},
		{Name: "files", Args: []runtime.Arg{pathArg, optArg(diskOpt)}, Returns: "table",
			Doc: "The entries of a guest folder, sorted by name: { {name=, path=, type=\"file\"|\"folder\"|\"link\"|\"other\", size=, mode=, mtime=, link=} } (mode the permissions as a number, mtime Unix seconds). A path that is not there raises not_found; a damaged span of the set, verify.", Fn: luaPointFiles},
		{Name: "stat", Args: []runtime.Arg{pathArg, optArg(diskOpt)}, Returns: "table|nil",
			Doc: "The entry of a guest path (as :files gives them; a link is not followed), or nil when it is not there.", Fn: luaPointStat},
		{Name: "read", Args: []runtime.Arg{pathArg, optArg(diskOpt, runtime.Option{Name: "max", Type: "integer", Default: "1048576", Doc: fmt.Sprintf("the largest file read (at most %d): a bigger one raises invalid_argument, :copy it instead", ReadMax)})}, Returns: "string",
			Doc: "A guest file's content (a link is followed). A damaged span of the set raises verify: never wrong bytes.", Fn: luaPointRead},
		{Name: "copy", Args: []runtime.Arg{pathArg, {Name: "options", Type: "table", Doc: "a table of options (below)", Options: []runtime.Option{
			target("to", "where it goes: a Transport or a granted URL (a folder)"),
			{Name: "name", Type: "string", Doc: "its name there (default: the file's name, a folder's with .tar)"},
			diskOpt, optCredentials}}}, Returns: "table",
			Doc: "Copies a guest file, or a folder as a tar archive, to a target, atomically (the name appears only when complete): returns {path=, bytes=, sha256=, tar=}.", Fn: luaPointCopy},
		{Name: "close", Returns: "nil", Doc: "Closes the point (the end of the script closes it too).", Fn: luaPointClose},
	}
	Module.Funcs = append(Module.Funcs, runtime.Func{
		Name: "open_point",
		Args: optionsArg(target("from", "the target of the sets: a Transport or a granted URL"),
			runtime.Option{Name: "vm", Type: "string", Required: true, Doc: "the VM's name"},
			runtime.Option{Name: "point", Type: "string", Default: `"latest"`, Doc: "the set's timestamp (as backup.list's ids end, e.g. \"20260102T150405Z\"), or \"latest\": the newest complete set"},
			runtime.Option{Name: "cache", Type: "integer", Default: "64", Doc: "MiB of memory for verified spans and decoded frames"},
			optCredentials),
		Returns: "Point",
		Doc: "Opens a restore point (a full or any incremental, its chain applied on the fly) to read guest files out of its disks without restoring it, as vmlua files does: " +
			"the partition table (MBR, GPT) and ext2/3/4 and FAT12/16/32 file systems; every byte read is checked against the catalog span by span, nothing is written to the set. " +
			"For a test-restore drill: open the newest point, check a file, close. A VM without a complete set raises not_found.",
		Fn: luaOpenPoint,
	})
	Module.Types = append(Module.Types, PointType)
}

func luaOpenPoint(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "from")
	vmName := runtime.OptString(L, o, "vm", "")
	if vmName == "" {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "backup.open_point: vm= is required")
	}
	point := runtime.OptString(L, o, "point", "latest")
	p, err := pointfiles.Open(r.Context(), h.T, vmName, point, int64(runtime.OptInt(L, o, "cache", 64))<<20)
	if err != nil {
		return r.Raise(L, err)
	}
	op := &openPoint{p: p, vm: vmName}
	op.done = r.Cleanup.Push("close restore point "+p.Catalog.ID, func(context.Context) error { return p.Close() })
	L.Push(r.NewObject(L, PointType, op))
	return 1
}

// pointArgs are a method's point, guest path and options.
func pointArgs(r *runtime.Run, L *lua.LState, withPath bool) (*openPoint, string, *lua.LTable) {
	op := r.CheckObject(L, 1, PointType).(*openPoint)
	n, p := 2, ""
	if withPath {
		p = L.CheckString(2)
		n = 3
	}
	o := L.NewTable()
	if L.GetTop() >= n && L.Get(n) != lua.LNil {
		o = L.CheckTable(n)
	}
	return op, p, o
}

// volume resolves a guest path of a Point.
func (op *openPoint) volume(L *lua.LState, o *lua.LTable, guestPath string) (*guestfs.Volume, string, string, error) {
	id, err := op.p.DiskID(runtime.OptString(L, o, "disk", ""))
	if err != nil {
		return nil, "", "", err
	}
	v, p, err := op.p.Resolve(id, guestPath)
	return v, p, id, err
}

func entryTable(L *lua.LState, e guestfs.Entry) *lua.LTable {
	t := L.NewTable()
	typ := "other"
	switch {
	case e.IsDir():
		typ = "folder"
	case e.Mode&fs.ModeSymlink != 0:
		typ = "link"
		t.RawSetString("link", lua.LString(e.Link))
	case e.Mode.IsRegular():
		typ = "file"
	}
	t.RawSetString("name", lua.LString(e.Name))
	t.RawSetString("path", lua.LString(e.Path))
	t.RawSetString("type", lua.LString(typ))
	t.RawSetString("size", lua.LNumber(e.Size))
	t.RawSetString("mode", lua.LNumber(e.Mode.Perm()))
	if !e.ModTime.IsZero() {
		t.RawSetString("mtime", lua.LNumber(e.ModTime.Unix()))
	}
	return t
}

func luaPointPartitions(r *runtime.Run, L *lua.LState) int {
	op, _, o := pointArgs(r, L, false)
	ps, err := op.p.Partitions(runtime.OptString(L, o, "disk", ""))
	if err != nil {
		return r.Raise(L, op.p.NotFound(err, ""))
	}
	t := L.NewTable()
	for _, p := range ps {
		e := L.NewTable()
		e.RawSetString("number", lua.LNumber(p.Number))
		e.RawSetString("start", lua.LNumber(p.Start))
		e.RawSetString("size", lua.LNumber(p.Size))
		e.RawSetString("table", lua.LString(p.Table))
		e.RawSetString("type", lua.LString(p.Type))
		e.RawSetString("name", lua.LString(p.Name))
		e.RawSetString("fs", lua.LString(p.FS))
		e.RawSetString("readable", lua.LBool(guestfs.Readable(p.FS)))
		t.Append(e)
	}
	L.Push(t)
	return 1
}

func luaPointFiles(r *runtime.Run, L *lua.LState) int {
	op, gp, o := pointArgs(r, L, true)
	v, p, _, err := op.volume(L, o, gp)
	if err != nil {
		return r.Raise(L, err)
	}
	es, err := v.List(p)
	if err != nil {
		return r.Raise(L, op.p.NotFound(err, gp))
	}
	t := L.NewTable()
	for _, e := range es {
		t.Append(entryTable(L, e))
	}
	L.Push(t)
	return 1
}

func luaPointStat(r *runtime.Run, L *lua.LState) int {
	op, gp, o := pointArgs(r, L, true)
	v, p, _, err := op.volume(L, o, gp)
	if err != nil {
		return r.Raise(L, err)
	}
	e, err := v.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			L.Push(lua.LNil)
			return 1
		}
		return r.Raise(L, err)
	}
	L.Push(entryTable(L, e))
	return 1
}

func luaPointRead(r *runtime.Run, L *lua.LState) int {
	op, gp, o := pointArgs(r, L, true)
	max := runtime.OptInt(L, o, "max", 1<<20)
	if max < 0 || max > ReadMax {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "max=%d: give at most %d bytes; :copy a bigger file to a target", max, ReadMax)
	}
	id, err := op.p.DiskID(runtime.OptString(L, o, "disk", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	b, err := op.p.ReadAll(id, gp, int64(max))
	if err != nil {
		return r.Raise(L, op.p.NotFound(err, gp))
	}
	L.Push(lua.LString(b))
	return 1
}

func luaPointCopy(r *runtime.Run, L *lua.LState) int {
	op := r.CheckObject(L, 1, PointType).(*openPoint)
	gp := L.CheckString(2)
	o := runtime.OptionsTable(L, 3)
	h := dest(r, L, o, "to")
	v, p, _, err := op.volume(L, o, gp)
	if err != nil {
		return r.Raise(L, err)
	}
	ctx := r.Context()
	name, src, isTar, err := pointfiles.Stream(ctx, v, p, false)
	if err != nil {
		return r.Raise(L, op.p.NotFound(err, gp))
	}
	defer src.Close()
	if n := runtime.OptString(L, o, "name", ""); n != "" {
		name = n
	}
	t0 := time.Now()
	up, err := transports.Upload(ctx, h.T, name, src, transports.UploadOptions{})
	if err != nil {
		return r.Raise(L, op.p.NotFound(err, gp))
	}
	r.Log.Info("backup: copied a guest file out of a restore point", "set", op.p.Catalog.ID, "path", gp, "to", h.URL+"/"+name, "bytes", up.Bytes, "took", time.Since(t0).Round(time.Millisecond).String())
	t := L.NewTable()
	t.RawSetString("path", lua.LString(name))
	t.RawSetString("bytes", lua.LNumber(up.Bytes))
	t.RawSetString("sha256", lua.LString(up.SHA256))
	t.RawSetString("tar", lua.LBool(isTar))
	L.Push(t)
	return 1
}

func luaPointClose(r *runtime.Run, L *lua.LState) int {
	op := r.CheckObject(L, 1, PointType).(*openPoint)
	if op.done != nil {
		r.RunCleanup(op.done)
		op.done = nil
	}
	return 0
}
