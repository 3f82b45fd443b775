package vmfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

var _ transports.ServerCopier = (*Transport)(nil)

// SameServer implements transports.ServerCopier: session is the run's
// *vim25.Client (or what gives one, as Options.Env[EnvVSphere]) and
// SameVSphere says.
func (t *Transport) SameServer(session any) bool {
	c, err := clientFrom(map[string]any{transports.EnvVSphere: session})
	return err == nil && t.SameVSphere(c)
}

// SameVSphere reports whether c talks to the vSphere the transport uses:
// the same client, or one whose service instance has the same UUID and
// URL host.
func (t *Transport) SameVSphere(c *vim25.Client) bool {
	if c == nil {
		return false
	}
	if c == t.c {
		return true
	}
	a, b := c.ServiceContent.About, t.c.ServiceContent.About
	return a.InstanceUuid != "" && a.InstanceUuid == b.InstanceUuid && c.URL().Host == t.c.URL().Host
}

// CopyVirtualDisk implements transports.ServerCopier (VirtualDiskManager.CopyVirtualDisk).
func (t *Transport) CopyVirtualDisk(ctx context.Context, srcDSPath, dstPath string) error {
	r, err := t.rel(dstPath)
	if err != nil {
		return err
	}
	srcDS, _ := datastore.Split(srcDSPath)
	if srcDS == "" {
		return fmt.Errorf("copy virtual disk: %q is not a datastore path like \"[datastore] folder/disk.vmdk\"", srcDSPath)
	}
	srcDC := t.dc
	if srcDS != t.name {
		_, dc, err := findDatastore(ctx, t.c, srcDS, "")
		if err != nil {
			return fmt.Errorf("copy virtual disk %s: %w", srcDSPath, err)
		}
		srcDC = dc
	}
	dst := t.ds.Path(r)
	task, err := t.vdm.CopyVirtualDisk(ctx, srcDSPath, srcDC, dst, t.dc, nil, false)
	if err != nil {
		return fmt.Errorf("copy virtual disk %s to %s: %w", srcDSPath, dst, mapErr(err))
	}
	if _, err := taskwait.Wait(ctx, task); err != nil {
		if ctx.Err() != nil {
			// stop the server's copy; the caller removes what it left
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupGrace)
			defer cancel()
			_ = task.Cancel(cctx)
			_, _ = taskwait.Wait(cctx, task)
		}
		return fmt.Errorf("copy virtual disk %s to %s: %w", srcDSPath, dst, mapErr(err))
	}
	return nil
}

// MoveVirtualDisk implements transports.ServerCopier (VirtualDiskManager.MoveVirtualDisk, force).
func (t *Transport) MoveVirtualDisk(ctx context.Context, from, to string) error {
	rf, err := t.rel(from)
	if err != nil {
		return err
	}
	rt, err := t.rel(to)
	if err != nil {
		return err
	}
	task, err := t.vdm.MoveVirtualDisk(ctx, t.ds.Path(rf), t.dc, t.ds.Path(rt), t.dc, true)
	if err := waitTask(ctx, task, err); err != nil {
		return fmt.Errorf("move virtual disk %s to %s on %s: %w", from, to, t.URL(), mapErr(err))
	}
	return nil
}

// RemoveAll implements transports.ServerCopier (FileManager.DeleteDatastoreFile,
// which removes folders recursively).
func (t *Transport) RemoveAll(ctx context.Context, p string) error {
	r, err := t.rel(p)
	if err != nil {
		return err
	}
	if r == t.root {
		return fmt.Errorf("remove the transport's root %s: refused", t.URL())
	}
	err = t.delete(ctx, r, p)
	if errors.Is(err, fs.ErrNotExist) || (err != nil && isFault[*types.CannotDeleteFile](err) && isMissing(ctx, t, p)) {
		return nil
	}
	return err
}

func isMissing(ctx context.Context, t *Transport, p string) bool {
	_, err := t.Stat(ctx, p)
	return errors.Is(err, fs.ErrNotExist)
}
