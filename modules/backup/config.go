package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sync"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// configKinds maps layoutEx file types to catalog kinds.
var configKinds = map[string]string{
	string(types.VirtualMachineFileLayoutExFileTypeConfig):         catalog.KindConfig,
	string(types.VirtualMachineFileLayoutExFileTypeNvram):          catalog.KindNvram,
	string(types.VirtualMachineFileLayoutExFileTypeSnapshotList):   catalog.KindSnapList,
	string(types.VirtualMachineFileLayoutExFileTypeExtendedConfig): catalog.KindExtConfig,
	string(types.VirtualMachineFileLayoutExFileTypeLog):            catalog.KindLog,
}

// configUploads is how many configuration files are stored at once, and
// configBuffered the largest one read into memory to be stored while the
// disks are frozen (a larger one is stored before the freeze, streamed);
// so at most configUploads*configBuffered bytes wait in memory.
const configUploads = 4

var configBuffered = 8 << 20

// configCopy is the copy of a VM's configuration files into a set. The
// files are read from the datastore one after the other (on the vSphere
// session's connection, before the freeze) and stored up to configUploads
// at once in the background, mostly while the snapshot is made: each
// store is an upload whose time is mostly the target's fsyncs and rename.
type configCopy struct {
	sw     *setWriter
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	files  []*configFile
	done   bool
}

type configFile struct {
	src, kind, base string
	file            catalog.File
	ok              bool
}

// copyConfigFiles reads the .vmx, .nvram, .vmsd, .vmxf and logs and starts
// storing them; it returns once every file is read. wait (or abort, on
// every path) must follow.
func copyConfigFiles(r *runtime.Run, v *vm.VM, sw *setWriter, dss *datastores) (*configCopy, error) {
	m := v.MO()
	var files []types.VirtualMachineFileLayoutExFileInfo
	if m.LayoutEx != nil {
		files = m.LayoutEx.File
	}
	haveVMX := false
	for _, f := range files {
		if configKinds[f.Type] == catalog.KindConfig {
			haveVMX = true
		}
	}
	if !haveVMX && m.Config != nil {
		files = append(files, types.VirtualMachineFileLayoutExFileInfo{Name: m.Config.Files.VmPathName, Type: string(types.VirtualMachineFileLayoutExFileTypeConfig)})
	}
	ctx, cancel := context.WithCancel(r.Context())
	c := &configCopy{sw: sw, ctx: ctx, cancel: cancel, slots: make(chan struct{}, configUploads)}
	seen := map[string]bool{}
	for _, f := range files {
		kind, ok := configKinds[f.Type]
		if !ok {
			continue
		}
		_, rel := dsPath(f.Name)
		base := path.Base(rel)
		if seen[base] {
			continue
		}
		seen[base] = true
		cf := &configFile{src: f.Name, kind: kind, base: base}
		c.files = append(c.files, cf)
		if err := c.read(r, m, dss, cf); err != nil {
			c.fail(err)
		}
		if err := c.failed(); err != nil { // this read's, or an earlier store's (then this read was cancelled)
			c.abort()
			return nil, err
		}
	}
	return c, nil
}

// read reads one file and stores it: in the background when it is small
// enough to wait in memory, else streamed now.
func (c *configCopy) read(r *runtime.Run, m mo.VirtualMachine, dss *datastores, cf *configFile) error {
	dsName, rel := dsPath(cf.src)
	ds, err := dss.Get(c.ctx, m.Datastore, dsName)
	if err != nil {
		return &runtime.Error{Code: runtime.CodeVSphere, VM: m.Name, Path: cf.src, Message: vfault.Text(err), Err: err}
	}
	readErr := func(err error) error {
		if c.ctx.Err() == nil && (cf.kind == catalog.KindLog || cf.kind == catalog.KindNvram) {
			r.Log.Warn("backup: a configuration file listed by vSphere cannot be read; skipped", "vm", m.Name, "file", cf.src, "error", err)
			return nil
		}
		return &runtime.Error{Code: runtime.CodeVSphere, VM: m.Name, Path: cf.src, Message: fmt.Sprintf("cannot read the VM's %s file: %s", cf.kind, vfault.Text(err)), Err: err}
	}
	rc, _, err := ds.Download(c.ctx, rel, &soap.DefaultDownload)
	if err != nil {
		return readErr(err)
	}
	defer rc.Close()
	store := func(src io.Reader) error {
		res, err := sets.UploadSealed(c.ctx, c.sw.t, c.sw.dir+"/"+cf.base, src, c.sw.Key(), transports.UploadOptions{})
		if err != nil {
			return &runtime.Error{Code: runtime.CodeTransport, VM: m.Name, Path: c.sw.dir + "/" + cf.base, Message: fmt.Sprintf("cannot store %s: %v", cf.src, err), Err: err}
		}
		cf.file = catalog.File{Name: cf.base, Size: res.Bytes, SHA256: res.SHA256, Compression: pcomp.None, Kind: cf.kind, Source: cf.src, Encrypted: c.sw.Key() != nil}
		cf.ok = true
		return nil
	}
	// a slot first: it bounds the bytes waiting in memory
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	b, err := io.ReadAll(io.LimitReader(rc, int64(configBuffered)+1))
	if err != nil {
		<-c.slots
		return readErr(err)
	}
	if len(b) > configBuffered { // too big to wait in memory: stored now, before the freeze
		defer func() { <-c.slots }()
		return store(io.MultiReader(bytes.NewReader(b), rc))
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.slots }()
		if err := store(bytes.NewReader(b)); err != nil {
			c.fail(err)
		}
	}()
	return nil
}

func (c *configCopy) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cancel() // the first failure stops the other stores
}

func (c *configCopy) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// wait waits until every file is stored and lists them in the catalog, in
// vSphere's order; the first failure is returned.
func (c *configCopy) wait() error {
	c.wg.Wait()
	c.mu.Lock()
	err, done := c.err, c.done
	c.done = true
	c.mu.Unlock()
	if done {
		return err
	}
	if err == nil {
		err = c.ctx.Err()
	}
	c.cancel()
	if err != nil {
		c.fail(err)
		return err
	}
	var out []catalog.File
	for _, f := range c.files {
		if f.ok {
			out = append(out, f.file)
		}
	}
	return c.sw.Add(out...)
}

// abort stops the stores still running and waits for them; after wait it
// does nothing. Every path of a backup calls it before the set may be
// removed.
func (c *configCopy) abort() {
	if c == nil {
		return
	}
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if !done {
		c.cancel()
		c.wg.Wait()
	}
}
