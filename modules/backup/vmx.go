package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// VMXResult is what VMXArchive wrote.
type VMXResult struct {
	Path   string
	Bytes  int64
	SHA256 string
	Files  []string
	DryRun bool // nothing was written; Path, Bytes and SHA256 are the archive's that would be
}

// VMXArchive is the book's vmxBackup.pl: the VM's small files (.vmx,
// .nvram, .vmsd, .vmxf, logs) as one .tar.gz under <vm>/vmx/ on the target,
// named by UTC time, never overwriting an earlier one.
func VMXArchive(r *runtime.Run, v *vm.VM, t transports.Transport) (VMXResult, error) {
	ctx := r.Context()
	if err := v.Refresh(ctx); err != nil {
		return VMXResult{}, err
	}
	m := v.MO()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	var res VMXResult
	now := time.Now().UTC()
	seen := map[string]bool{}
	if m.LayoutEx != nil {
		for _, f := range m.LayoutEx.File {
			if _, ok := configKinds[f.Type]; !ok {
				continue
			}
			dsName, rel := dsPath(f.Name)
			base := path.Base(rel)
			if seen[base] {
				continue
			}
			seen[base] = true
			ds, err := datastoreOf(ctx, v.Obj.Client(), m.Datastore, dsName)
			if err != nil {
				return res, &runtime.Error{Code: runtime.CodeVSphere, VM: m.Name, Path: f.Name, Message: vfault.Text(err), Err: err}
			}
			b, err := dsread.ReadSmall(ctx, ds, rel)
			if err != nil {
				if configKinds[f.Type] == catalog.KindConfig {
					return res, &runtime.Error{Code: runtime.CodeVSphere, VM: m.Name, Path: f.Name, Message: "cannot read the .vmx: " + vfault.Text(err), Err: err}
				}
				r.Log.Warn("backup.vmx: a file cannot be read; left out", "vm", m.Name, "file", f.Name, "error", err)
				continue
			}
			if err := tw.WriteHeader(&tar.Header{Name: base, Mode: 0o644, Size: int64(len(b)), ModTime: now, Format: tar.FormatPAX}); err != nil {
				return res, err
			}
			tw.Write(b)
			res.Files = append(res.Files, base)
		}
	}
	if err := tw.Close(); err != nil {
		return res, err
	}
	if err := gz.Close(); err != nil {
		return res, err
	}
	dir := sets.DirName(m.Name) + "/vmx"
	if err := t.MkdirAll(ctx, dir); err != nil {
		return res, sets.TargetError(err, dir)
	}
	name := fmt.Sprintf("%s/%s-%s.tar.gz", dir, sets.DirName(m.Name), now.Format(catalog.TimeFormat))
	for i := 1; ; i++ {
		if _, err := t.Stat(ctx, name); err != nil {
			break
		}
		name = fmt.Sprintf("%s/%s-%s-%d.tar.gz", dir, sets.DirName(m.Name), now.Format(catalog.TimeFormat), i)
	}
	if r.DryRun || transports.IsDryRun(t) {
		sum := sha256.Sum256(buf.Bytes())
		res.Path, res.Bytes, res.SHA256, res.DryRun = name, int64(buf.Len()), hex.EncodeToString(sum[:]), true
		r.DryRunAction("write the configuration archive", "vm", m.Name, "path", name, "files", len(res.Files), "bytes", res.Bytes)
		return res, nil
	}
	up, err := transports.Upload(ctx, t, name, bytes.NewReader(buf.Bytes()), transports.UploadOptions{ExpectedSize: int64(buf.Len())})
	if err != nil {
		return res, sets.TargetError(err, name)
	}
	res.Path, res.Bytes, res.SHA256 = name, up.Bytes, up.SHA256
	r.Log.Info("backup.vmx: archive written", "vm", m.Name, "path", name, "files", len(res.Files), "bytes", up.Bytes)
	return res, nil
}
