package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// MaxBundle bounds a configuration bundle a restore reads (ESXi's are a
// few hundred KiB; the simulator accepts up to 16 MiB).
const MaxBundle = 64 << 20

// Meta is the sidecar written beside a bundle: what the bundle is and
// which host it came from. It is written after the bundle, so a bundle
// without its sidecar is an incomplete backup.
type Meta struct {
	Schema  string    `json:"schema"` // MetaSchema
	Host    string    `json:"host"`
	Moref   string    `json:"moref"`
	Version string    `json:"version"`
	Build   string    `json:"build"`
	UUID    string    `json:"uuid"`
	File    string    `json:"file"` // the bundle, beside the sidecar
	Bytes   int64     `json:"bytes"`
	SHA256  string    `json:"sha256"`
	Taken   time.Time `json:"taken"`
}

// MetaSchema names the sidecar's format.
const MetaSchema = "vmlua.host.config-bundle.1"

// BundleName is the default file name of a host's bundle.
func BundleName(host string) string {
	return "configBundle-" + strings.NewReplacer("/", "_", "\\", "_").Replace(host) + ".tgz"
}

// MetaName is the sidecar's name for a bundle file.
func MetaName(bundle string) string { return strings.TrimSuffix(bundle, ".tgz") + ".json" }

// firmwareSystem returns the host's HostFirmwareSystem.
func (h *Host) firmwareSystem(ctx context.Context) (types.ManagedObjectReference, error) {
	var m mo.HostSystem
	if err := retrieve(ctx, h.conn, h.Ref, []string{"configManager.firmwareSystem"}, &m); err != nil {
		return types.ManagedObjectReference{}, vsphereErr(err, h.Name, "read the host's firmware system")
	}
	if m.ConfigManager.FirmwareSystem == nil {
		return types.ManagedObjectReference{}, &runtime.Error{Code: runtime.CodeInvalidState, Message: fmt.Sprintf("host %s has no firmware system: its configuration cannot be backed up through the API", h.Name)}
	}
	return *m.ConfigManager.FirmwareSystem, nil
}

// hostErr is a structured error about host h.
func hostErr(code, host, p, format string, args ...any) *runtime.Error {
	return &runtime.Error{Code: code, Path: p, Message: fmt.Sprintf("host %s: ", host) + fmt.Sprintf(format, args...)}
}

// BackupConfig downloads the host's configuration bundle into t under
// name (default BundleName), then writes its sidecar, both atomically.
func (h *Host) BackupConfig(r *runtime.Run, t transports.Transport, name string) (Meta, error) {
	ctx := r.Context()
	if err := h.refresh(r); err != nil {
		return Meta{}, err
	}
	if name == "" {
		name = BundleName(h.Name)
	}
	if !strings.HasSuffix(name, ".tgz") {
		return Meta{}, runtime.Errorf(runtime.CodeInvalidArg, "name=%q: a configuration bundle's name ends in .tgz", name)
	}
	meta := Meta{Schema: MetaSchema, Host: h.Name, Moref: h.Ref.Value, Version: h.Version, Build: h.Build, UUID: h.UUID, File: name, Taken: time.Now().UTC().Truncate(time.Second)}
	if h.State != "" && h.State != string(types.HostSystemConnectionStateConnected) {
		return meta, hostErr(runtime.CodeInvalidState, h.Name, "", "it is %s: reconnect it before backing up its configuration", h.State)
	}
	if r.DryRun {
		r.DryRunAction("back up the host's configuration", "host", h.Name, "file", name)
		return meta, nil
	}
	fw, err := h.firmwareSystem(ctx)
	if err != nil {
		return meta, err
	}
	res, err := methods.BackupFirmwareConfiguration(ctx, h.conn.Client, &types.BackupFirmwareConfiguration{This: fw})
	if err != nil {
		if vm.IsFault[*types.HostNotConnected](err) {
			return meta, hostErr(runtime.CodeInvalidState, h.Name, "", "it is not connected: reconnect it and back up again (%v)", err)
		}
		return meta, vsphereErr(err, h.Name, "back up the configuration")
	}
	// the bundle is on the host: its own address, with a service ticket
	// (internal/dsread); vCenter does not serve it
	var up transports.UploadResult
	var stored error // the target's error, once the bundle's bytes flow
	err = dsread.HostRequest(ctx, h.conn.Client, h.Ref, http.MethodGet, res.Returnval, nil, func(res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", res.Request.URL.Path, res.Status)
		}
		up, stored = transports.Upload(ctx, t, name, res.Body, transports.UploadOptions{ExpectedSize: res.ContentLength})
		return stored
	})
	if err != nil && stored == nil {
		return meta, hostErr(runtime.CodeVSphere, h.Name, "", "cannot download the configuration bundle from the host: %v; back up again", err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return meta, runtime.Wrap(ctx.Err(), runtime.CodeCanceled)
		}
		return meta, &runtime.Error{Code: runtime.CodeTransport, Path: name, Err: err,
			Message: fmt.Sprintf("host %s: the configuration bundle download was cut or could not be stored (%v); nothing was kept: check that the host is connected and back up again", h.Name, err)}
	}
	meta.Bytes, meta.SHA256 = up.Bytes, up.SHA256
	b, _ := json.MarshalIndent(meta, "", "  ")
	b = append(b, '\n')
	if _, err := transports.Upload(ctx, t, MetaName(name), bytes.NewReader(b), transports.UploadOptions{ExpectedSize: int64(len(b))}); err != nil {
		_ = t.Remove(context.WithoutCancel(ctx), name) // no bundle without its sidecar
		return meta, &runtime.Error{Code: runtime.CodeTransport, Path: MetaName(name), Err: err, Message: fmt.Sprintf("host %s: cannot write the bundle's sidecar (%v); the bundle was removed: back up again", h.Name, err)}
	}
	r.Log.Info("host: configuration backed up", "host", h.Name, "file", name, "bytes", up.Bytes, "sha256", up.SHA256, "build", h.Build)
	return meta, nil
}

// ReadMeta reads the sidecar of the bundle name on t.
func ReadMeta(ctx context.Context, t transports.Transport, name string) (Meta, error) {
	var m Meta
	rc, err := t.Open(ctx, MetaName(name), 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := t.Stat(ctx, name); serr == nil {
				return m, &runtime.Error{Code: runtime.CodeInvalidState, Path: name, Message: fmt.Sprintf("the bundle %s has no sidecar %s: its backup did not finish; restore another backup", name, MetaName(name))}
			}
			return m, &runtime.Error{Code: runtime.CodeNotFound, Path: name, Message: fmt.Sprintf("there is no configuration bundle %s (nor its sidecar %s) on this target", name, MetaName(name))}
		}
		return m, &runtime.Error{Code: runtime.CodeTransport, Path: MetaName(name), Message: fmt.Sprintf("cannot read the bundle's sidecar: %v", err), Err: err}
	}
	defer rc.Close()
	b, err := capread.ReadAll(rc, 1<<20)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err == nil && (m.Schema != MetaSchema || len(m.SHA256) != 64) {
		err = fmt.Errorf("schema %q, sha256 %q: not a vmlua bundle sidecar", m.Schema, m.SHA256)
	}
	if err != nil {
		return m, &runtime.Error{Code: runtime.CodeVerify, Path: MetaName(name), Message: fmt.Sprintf("the bundle's sidecar cannot be read: %v", err), Err: err}
	}
	return m, nil
}

// RestoreOptions are restore_config's options.
type RestoreOptions struct {
	Name  string // bundle file name on the target; default BundleName(host)
	Force bool   // apply a bundle of another build or host
}

// RestoreConfig restores the bundle on t to the host: maintenance mode,
// build and uuid (unless forced) and the bundle's sha256 are checked before
// anything is uploaded.
func (h *Host) RestoreConfig(r *runtime.Run, t transports.Transport, o RestoreOptions) (Meta, error) {
	ctx := r.Context()
	if err := h.refresh(r); err != nil {
		return Meta{}, err
	}
	name := o.Name
	if name == "" {
		name = BundleName(h.Name)
	}
	meta, err := ReadMeta(ctx, t, name)
	if err != nil {
		return meta, err
	}
	if !h.Maint {
		return meta, hostErr(runtime.CodeInvalidState, h.Name, name, "it is not in maintenance mode; a configuration restore reboots the host: evacuate or power off its VMs, call h:enter_maintenance() and restore again")
	}
	if !o.Force && (meta.Build != h.Build || !strings.EqualFold(meta.UUID, h.UUID)) {
		return meta, hostErr(runtime.CodeConflict, h.Name, name, "the bundle is from host %s (uuid %s, build %s) and this host is uuid %s, build %s: restore a backup of this host taken at its current build, or pass force=true to apply it anyway", meta.Host, meta.UUID, meta.Build, h.UUID, h.Build)
	}
	data, err := readBundle(ctx, t, name, meta)
	if err != nil {
		return meta, err
	}
	if r.DryRun {
		r.DryRunAction("restore the host's configuration", "host", h.Name, "file", name, "force", o.Force)
		return meta, nil
	}
	fw, err := h.firmwareSystem(ctx)
	if err != nil {
		return meta, err
	}
	q, err := methods.QueryFirmwareConfigUploadURL(ctx, h.conn.Client, &types.QueryFirmwareConfigUploadURL{This: fw})
	if err != nil {
		return meta, vsphereErr(err, h.Name, "ask where to upload the bundle")
	}
	// to the host's own address, as the backup's download
	err = dsread.HostRequest(ctx, h.conn.Client, h.Ref, http.MethodPut, q.Returnval, data, func(res *http.Response) error {
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PUT %s: %s", res.Request.URL.Path, res.Status)
		}
		return nil
	})
	if err != nil {
		return meta, hostErr(runtime.CodeVSphere, h.Name, name, "cannot upload the bundle to the host: %v; nothing was restored, try again", err)
	}
	_, err = methods.RestoreFirmwareConfiguration(ctx, h.conn.Client, &types.RestoreFirmwareConfiguration{This: fw, Force: o.Force})
	if err != nil {
		switch {
		case vm.IsFault[*types.InvalidState](err):
			return meta, hostErr(runtime.CodeInvalidState, h.Name, name, "the host refused the restore (%v): enter maintenance mode and restore again", err)
		case vm.IsFault[*types.MismatchedBundle](err):
			return meta, hostErr(runtime.CodeConflict, h.Name, name, "the host says the bundle is of another host or build (%v): pass force=true to apply it anyway", err)
		case vm.IsFault[*types.InvalidBundle](err):
			return meta, hostErr(runtime.CodeVerify, h.Name, name, "the host says the bundle is not valid (%v): restore another backup", err)
		}
		return meta, vsphereErr(err, h.Name, "restore the configuration")
	}
	r.Log.Info("host: configuration restored; the host reboots", "host", h.Name, "file", name, "build", meta.Build, "force", o.Force)
	return meta, h.refresh(r)
}

// readBundle reads a bundle whole and checks it against its sidecar.
func readBundle(ctx context.Context, t transports.Transport, name string, meta Meta) ([]byte, error) {
	rc, err := t.Open(ctx, name, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: name, Message: fmt.Sprintf("the bundle %s is missing (its sidecar is there): restore another backup", name)}
		}
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: name, Message: fmt.Sprintf("cannot read the bundle: %v", err), Err: err}
	}
	defer rc.Close()
	data, err := capread.ReadAll(rc, MaxBundle)
	if errors.Is(err, capread.ErrTooLarge) {
		return nil, &runtime.Error{Code: runtime.CodeVerify, Path: name, Message: fmt.Sprintf("the bundle is larger than %d MiB: it is not a host configuration bundle", MaxBundle>>20)}
	}
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: name, Message: fmt.Sprintf("cannot read the bundle: %v", err), Err: err}
	}
	sum := sha256.Sum256(data)
	switch got := hex.EncodeToString(sum[:]); {
	case int64(len(data)) != meta.Bytes:
		return nil, &runtime.Error{Code: runtime.CodeVerify, Path: name, Message: fmt.Sprintf("the bundle is %d bytes, its sidecar says %d (truncated or altered): nothing was uploaded; restore another backup", len(data), meta.Bytes)}
	case got != meta.SHA256:
		return nil, &runtime.Error{Code: runtime.CodeVerify, Path: name, Message: fmt.Sprintf("the bundle's sha256 is %s, its sidecar says %s (corrupt or altered): nothing was uploaded; restore another backup", got, meta.SHA256)}
	}
	return data, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
