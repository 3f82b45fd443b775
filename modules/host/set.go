package host

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// SetOwner is the owner of a host's configuration sets, as sets.List,
// Prune and Verify take it: "host/<name>".
func SetOwner(name string) string { return catalog.HostPrefix + name }

// SetOptions are h:backup's options.
type SetOptions struct {
	Keep      retention.Policy // pruned after a successful backup when not empty
	BreakLock bool
}

// BackupSet backs the host's configuration up into a new backup set
// host/<name>/<UTC time>/ (the bundle, its sidecar, and catalog.json last),
// under the folder's lock; on failure the partial set is removed. With a
// retention policy the host's sets are pruned afterwards.
func (h *Host) BackupSet(r *runtime.Run, t transports.Transport, o SetOptions) (cat *catalog.Catalog, err error) {
	ctx := r.Context()
	owner := SetOwner(h.Name)
	defer func() { sets.SetFailed(r, owner, err != nil) }()
	dir := catalog.HostPrefix + sets.DirName(h.Name)
	started := time.Now().UTC().Truncate(time.Second)
	for {
		if _, err := t.Stat(ctx, dir+"/"+started.Format(catalog.TimeFormat)); err != nil {
			break
		}
		started = started.Add(time.Second)
	}
	id := catalog.SetID(dir, started)
	cat = catalog.New()
	cat.ID, cat.VMLua, cat.Started, cat.Mode = id, runtime.Version, started, catalog.ModeFull
	if r.DryRun {
		// The same checks and the same answer as a real run, with nothing
		// written: the catalog a script reads (host_config.build, ...).
		r.DryRunAction("back up the host's configuration into a set", "host", h.Name, "set", id)
		bundle := BundleName(h.Name)
		m, err := h.BackupConfig(r, t, id+"/"+bundle)
		if err != nil {
			return nil, err
		}
		cat.DryRun = true
		cat.HostConfig = &catalog.HostConfig{Name: h.Name, Moref: h.Ref.Value, Version: m.Version, Build: m.Build, UUID: m.UUID, Bundle: bundle}
		return cat, nil
	}
	release, err := sets.AcquireLock(r, t, dir, id, o.BreakLock)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := t.MkdirAll(ctx, id); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: id, Message: fmt.Sprintf("host %s: cannot create the set's folder: %v", h.Name, err), Err: err}
	}
	complete := false
	defer func() {
		if !complete {
			if rerr := sets.RemoveAll(ctx, t, id); rerr != nil {
				r.Log.Error("host configuration backup failed and its partial set could not be removed; it is listed as incomplete", "host", h.Name, "set", id, "error", rerr)
			}
		}
	}()
	bundle := BundleName(h.Name)
	m, err := h.BackupConfig(r, t, id+"/"+bundle)
	if err != nil {
		return nil, err
	}
	m.File = bundle
	st, err := t.Stat(ctx, id+"/"+MetaName(bundle))
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: id, Message: fmt.Sprintf("host %s: the bundle's sidecar is not on the target: %v", h.Name, err), Err: err}
	}
	metaSum, err := sumOf(r, t, id+"/"+MetaName(bundle))
	if err != nil {
		return nil, err
	}
	cat.HostConfig = &catalog.HostConfig{Name: h.Name, Moref: h.Ref.Value, Version: m.Version, Build: m.Build, UUID: m.UUID, Bundle: bundle}
	cat.Files = []catalog.File{
		{Name: bundle, Size: m.Bytes, SHA256: m.SHA256, Compression: "none", Kind: catalog.KindHostBundle},
		{Name: MetaName(bundle), Size: st.Size, SHA256: metaSum, Compression: "none", Kind: catalog.KindHostMeta},
	}
	cat.Complete, cat.Finished = true, time.Now().UTC().Truncate(time.Second)
	b, err := cat.Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := transports.Upload(ctx, t, id+"/"+catalog.FileName, bytes.NewReader(b), transports.UploadOptions{ExpectedSize: int64(len(b))}); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: id, Message: fmt.Sprintf("host %s: cannot write the set's catalog: %v", h.Name, err), Err: err}
	}
	complete = true
	r.Log.Info("host: configuration set complete", "host", h.Name, "set", id, "bytes", m.Bytes)
	if !o.Keep.Empty() {
		release() // Prune reads the folder; our lock file is not a set
		if _, err := sets.Prune(r, t, owner, o.Keep, false); err != nil {
			return cat, err
		}
	}
	return cat, nil
}

// sumOf reads a small file back and returns its sha256 (the sidecar's, for
// the catalog).
func sumOf(r *runtime.Run, t transports.Transport, p string) (string, error) {
	rc, err := t.Open(r.Context(), p, 0)
	if err != nil {
		return "", &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot read back %s: %v", p, err), Err: err}
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		return "", &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot read back %s: %v", p, err), Err: err}
	}
	return sha256Hex(buf.Bytes()), nil
}

// latestSet resolves set= for a restore: a set id of this host's, or
// "latest", its newest complete set on t.
func latestSet(r *runtime.Run, t transports.Transport, h *Host, set string) (string, error) {
	if set != "latest" {
		vm, _, err := catalog.ParseSetID(set)
		if err != nil || vm != catalog.HostPrefix+sets.DirName(h.Name) {
			return "", runtime.Errorf(runtime.CodeInvalidArg, "set=%q is not a set of host %s: give host/%s/<UTC time> (backup.list{host=%q} shows them) or \"latest\"", set, h.Name, h.Name, h.Name)
		}
		return set, nil
	}
	list, err := sets.List(r.Context(), t, SetOwner(h.Name))
	if err != nil {
		return "", &runtime.Error{Code: runtime.CodeTransport, Message: fmt.Sprintf("host %s: cannot list its sets: %v", h.Name, err), Err: err}
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Complete {
			return list[i].ID, nil
		}
	}
	return "", &runtime.Error{Code: runtime.CodeNotFound, Message: fmt.Sprintf("host %s: there is no complete configuration set of this host on the target; back it up with h:backup{to=...} first", h.Name)}
}
