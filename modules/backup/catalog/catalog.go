package catalog

import (
	"bytes"

	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/internal/spansum"

	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Schema names the format; Version is the newest version this vmlua
// reads. A set that depends on another (an incremental) is written as
// VersionChain, so that a vmlua that cannot apply a chain refuses it
// instead of restoring a delta as if it were a disk; every other set is
// still written as version 1. A set whose files carry span digests
// (File.Spans) is written as VersionSpans, whatever its mode, so that a
// vmlua that cannot check them refuses it instead of finding no sha256;
// one whose disks are version 2 streams (FormatSparse2, FormatDelta2:
// their content digest is a span digest's root) as VersionContentSpans,
// so that a vmlua that reads only version 1 streams says to upgrade
// instead of calling them corrupt; an encrypted set (Encryption) as
// VersionEncrypted, so that a vmlua that cannot decrypt refuses it instead
// of restoring ciphertext.
const (
	Schema              = "vmlua.backup.catalog"
	Version             = 5
	VersionFull         = 1
	VersionChain        = 2
	VersionSpans        = 3
	VersionContentSpans = 4
	VersionEncrypted    = 5
	// FileName is the catalog of a complete set; ProgressName the one a
	// running backup keeps up to date (an incomplete set has only it, or
	// nothing).
	FileName     = "catalog.json"
	ProgressName = "progress.json"
	// TimeFormat is the UTC timestamp naming a set's folder.
	TimeFormat = "20060102T150405Z"
)

// Catalog describes one backup set.
type Catalog struct {
	Schema   string    `json:"schema"`
	Version  int       `json:"version"`
	ID       string    `json:"id"` // "<vm name>/<timestamp>", the set's path under the target
	Complete bool      `json:"complete"`
	VMLua    string    `json:"vmlua_version"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitempty"`
	VM       VM        `json:"vm"`
	Options  Options   `json:"options"`
	Disks    []Disk    `json:"disks"`
	Skipped  []Skipped `json:"skipped,omitempty"`
	Files    []File    `json:"files"`
	// Status is "ok" when the set holds every disk of the VM the script
	// did not exclude, "partial" when a disk had to be skipped (an
	// independent disk, an RDM): a restore of it yields a VM without them.
	// Sets written before the field existed have none (StatusOf derives it).
	Status string `json:"status,omitempty"`
	// DryRun marks the plan a dry run returns instead of a set; it is never
	// written to a target.
	DryRun bool `json:"dry_run,omitempty"`

	// Chains (version 2, optional fields).
	// Mode is how the disks were stored: "full" (also when empty),
	// "incremental" (only what changed since Parent), or "synthetic" (a
	// full merged from a chain by backup.synthesize, not read from vSphere).
	Mode string `json:"mode,omitempty"`
	// Parent is the id of the set an incremental applies on.
	Parent string `json:"parent,omitempty"`
	// ParentCatalogSHA256 is the sha256 of the parent's catalog.json as
	// the incremental's backup read it (its change ids came from it);
	// checked on reading the chain of an encrypted (authenticated) set.
	ParentCatalogSHA256 string `json:"parent_catalog_sha256,omitempty"`
	// Depth is the number of incrementals between this set and its full
	// (0 for a full).
	Depth int `json:"depth,omitempty"`
	// FullReason says why a set made with mode incremental or auto is a
	// full (no base, chain_max reached, a base that cannot be trusted).
	FullReason string `json:"full_reason,omitempty"`
	// SynthesizedFrom is, for a synthetic full, the set whose point it
	// holds.
	SynthesizedFrom string `json:"synthesized_from,omitempty"`

	// Encryption is set for an encrypted set (VersionEncrypted): every
	// file marked encrypted is internal/spancrypt's format under the
	// set's data key, stored wrapped to the set's recipients in KeyFile.
	Encryption *Encryption `json:"encryption,omitempty"`

	// raw is the file the catalog was parsed from (Parse): MACBytes.
	raw []byte
	// Alternate marks a catalog the operator gave a restore in place of
	// the set's own (catalog=, vcbRestore -a): it is not authenticated
	// (the operator vouches for it); the set's wrapped key still is
	// checked against it.
	Alternate bool `json:"-"`

	// HostConfig is set for a host configuration set (under host/, made
	// by the host module): the host the bundle came from. Its vm section
	// is empty and it has no disks.
	HostConfig *HostConfig `json:"host_config,omitempty"`
}

// Encryption is how a set is encrypted.
type Encryption struct {
	// Scheme is the files' format (spancrypt.Scheme).
	Scheme string `json:"scheme"`
	// KeyFile is the set's data key wrapped with age to the recipients
	// (a file of the set not listed in Files); KeySHA256 its sha256.
	KeyFile   string `json:"key_file"`
	KeySHA256 string `json:"key_sha256"`
	// Recipients is how many recipients the key was wrapped to.
	Recipients int `json:"recipients"`
	// MAC authenticates the complete catalog (catalog.json): the HMAC of
	// MACBytes under a key derived from the data key (spancrypt.CatalogMAC).
	MAC string `json:"mac"`
}

// MACBytes is what Encryption.MAC authenticates: the catalog file's
// bytes with the MAC's value empty. For a catalog read from a file
// (Parse) they are that file's bytes, so that a field this vmlua does
// not know (a later version's) is authenticated too; for one made in
// memory (the writer's), its rendering (Marshal), which is what its file
// will hold.
func (c *Catalog) MACBytes() ([]byte, error) {
	if c.Encryption == nil {
		return nil, errors.New("the set is not encrypted")
	}
	if c.raw != nil {
		if c.Encryption.MAC == "" {
			return c.raw, nil
		}
		field := []byte(`"mac": "` + c.Encryption.MAC + `"`)
		if bytes.Count(c.raw, field) != 1 {
			return nil, errors.New("the catalog's mac is not where vmlua writes it (the file was rewritten)")
		}
		return bytes.Replace(c.raw, field, []byte(`"mac": ""`), 1), nil
	}
	return c.MarshalWithoutMAC()
}

// MarshalWithoutMAC renders the catalog with its MAC's value empty (what
// a writer authenticates).
func (c *Catalog) MarshalWithoutMAC() ([]byte, error) {
	if c.Encryption == nil {
		return nil, errors.New("the set is not encrypted")
	}
	cp := *c
	e := *c.Encryption
	e.MAC = ""
	cp.Encryption = &e
	cp.raw = nil
	return cp.Marshal()
}

// HostConfig is what a host configuration set records about the host.
type HostConfig struct {
	Name    string `json:"name"`
	Moref   string `json:"moref"`
	Version string `json:"version"`
	Build   string `json:"build"`
	UUID    string `json:"uuid"`
	Bundle  string `json:"bundle"` // the bundle's file, relative to the set
}

// HostPrefix is the folder of the host configuration sets on a target.
const HostPrefix = "host/"

// Kinds of the files of a host configuration set.
const (
	KindHostBundle = "host-config-bundle"
	KindHostMeta   = "host-config-meta"
)

// Modes of sets.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeSynthetic   = "synthetic"
)

// Incremental reports whether the set depends on a parent.
func (c *Catalog) Incremental() bool { return c.Mode == ModeIncremental }

// VM is what the set records about the machine.
type VM struct {
	Name         string   `json:"name"`
	UUID         string   `json:"uuid"`          // BIOS UUID
	InstanceUUID string   `json:"instance_uuid"` // vCenter instance UUID
	Moref        string   `json:"moref"`
	Host         string   `json:"host,omitempty"`
	Power        string   `json:"power"` // on, off, suspended at the start
	Folder       string   `json:"folder,omitempty"`
	ResourcePool string   `json:"resource_pool,omitempty"`
	VMX          string   `json:"vmx"` // datastore path of the .vmx
	Datastores   []string `json:"datastores,omitempty"`
	GuestID      string   `json:"guest_id,omitempty"`
	CPUs         int      `json:"cpus"`
	MemoryMB     int64    `json:"memory_mb"`
	NICs         []NIC    `json:"nics,omitempty"`
	HWVersion    string   `json:"hardware_version,omitempty"`
}

// NIC is one network adapter.
type NIC struct {
	ID      string `json:"id"` // ethernet0
	Type    string `json:"type"`
	Network string `json:"network,omitempty"`
	MAC     string `json:"mac,omitempty"`
}

// Options are the backup's options.
type Options struct {
	Compress string `json:"compress"`
	Layered  bool   `json:"layered"`
	Quiesce  bool   `json:"quiesce"`
	PowerOff bool   `json:"power_off"`
	CBT      bool   `json:"cbt"` // allocated areas came from changed block tracking
	// Mode is the mode the script asked for (full, incremental, auto);
	// ChainMax the chain_max it gave (auto).
	Mode     string `json:"mode,omitempty"`
	ChainMax int    `json:"chain_max,omitempty"`
	// FullEvery is the full_every it gave: every FullEvery-th set of the
	// VM is a full.
	FullEvery int `json:"full_every,omitempty"`
	// VerifyCBT: the set is a verifying full (its disks' cbt_check).
	VerifyCBT bool `json:"verify_cbt,omitempty"`
}

// Disk is one backed-up disk.
type Disk struct {
	ID         string `json:"id"`   // scsi0:1
	Path       string `json:"path"` // datastore path of the base descriptor
	Datastore  string `json:"datastore"`
	Mode       string `json:"mode"`     // persistent, ...
	Capacity   int64  `json:"capacity"` // bytes
	Thin       bool   `json:"thin"`
	Format     string `json:"format"`     // "vmlua-sparse-2", ...
	File       string `json:"file"`       // the stored image, relative to the set
	Descriptor string `json:"descriptor"` // the stored descriptor, relative to the set
	// ContentSHA256 is the digest of the disk's canonical vmlua-sparse
	// stream (internal/sparse), the one its trailer holds: for version 2
	// streams (FormatSparse2, FormatDelta2) the root of its span digest
	// (sha256-spans-4m), for version 1 its sha256. Equal images have
	// equal digests in one format.
	ContentSHA256 string `json:"content_sha256"`
	DataBytes     int64  `json:"data_bytes"` // non-zero bytes stored

	// Changed block tracking and chains (optional).
	// ChangeID is the disk's changeId at this set's freeze: the next
	// incremental asks vSphere for the areas changed since it.
	ChangeID string `json:"change_id,omitempty"`
	// DiskUUID is the virtual disk's UUID; a different one means another
	// disk (or a re-created one): no incremental on top of this set.
	DiskUUID string `json:"disk_uuid,omitempty"`
	// For an incremental disk (format vmlua-delta-1): BaseChangeID is the
	// changeId the changed areas were asked from (the parent's change_id),
	// ParentContentSHA256 the content_sha256 of the parent's layer of this
	// disk, ChangedBytes the bytes vSphere reported changed (and that were
	// read).
	BaseChangeID        string `json:"base_change_id,omitempty"`
	ParentContentSHA256 string `json:"parent_content_sha256,omitempty"`
	ChangedBytes        int64  `json:"changed_bytes,omitempty"`

	// ImageSpans (disks with changed block tracking) are the digests of
	// the disk's image at this set's point
	// (what a restore of it writes), per 4 MiB span (internal/spansum's
	// span size) in order: the first 128 bits of the span's sha256 in hex,
	// ImageSpanZero for a span of zeros, ImageSpanUnknown for a span an
	// incremental changed without reading it whole (its parent's digest no
	// longer holds). A set that reads every byte of the disk knows every
	// span; an incremental carries its parent's digests of the spans
	// nothing changed. What a whole-disk read compares with (Read) and a
	// verify_cbt full checks changed block tracking against (CBTCheck).
	ImageSpans []string `json:"image_spans,omitempty"`
	// Read is "full" when every byte of the disk was read although changed
	// block tracking was to say which: ReadReason says why (vSphere
	// answered one extent over the whole disk, as on NFS datastores). An
	// incremental read in full stores only the spans whose digest differs
	// from its parent's (DifferingBytes of them).
	Read           string `json:"read,omitempty"`
	ReadReason     string `json:"read_reason,omitempty"`
	DifferingBytes int64  `json:"differing_bytes,omitempty"`
	// ReadPath is how the disk's bytes were read: "folder" (its flat
	// extents, over the datastore's /folder) or "nfc" (the snapshot's NFC
	// export lease, streamOptimized: vSAN and vVols disks, a flat file
	// /folder does not serve); ReadPathReason says why. Empty in sets of
	// an older vmlua (which read over /folder).
	ReadPath       string `json:"read_path,omitempty"`
	ReadPathReason string `json:"read_path_reason,omitempty"`
	// CBTCheck is what a backup with verify_cbt=true found comparing the
	// disk as read with the chain it followed.
	CBTCheck *CBTCheck `json:"cbt_check,omitempty"`
}

// Image span digests (Disk.ImageSpans).
const (
	ImageSpanZero    = "0"
	ImageSpanUnknown = "?"
	// ReadFull is Disk.Read of a disk read in full.
	ReadFull = "full"
)

// CBTCheck is a verify_cbt comparison of one disk: every span changed
// block tracking said unchanged since Against (a set) must have the
// digest Against's ImageSpans give it.
type CBTCheck struct {
	Against  string `json:"against"`   // the set compared with
	ChangeID string `json:"change_id"` // its change id, asked from
	Compared int    `json:"compared"`  // spans compared
	Skipped  int    `json:"skipped"`   // spans changed since, or of unknown digest
	// Missed are the spans that differ although changed block tracking
	// reported no change in them: it missed a change.
	Missed []SpanRange `json:"missed,omitempty"`
}

// SpanRange is one image span: its index and bytes [Off, End).
type SpanRange struct {
	Index int   `json:"index"`
	Off   int64 `json:"off"`
	End   int64 `json:"end"`
}

// Skipped is a disk the backup left out, and why.
type Skipped struct {
	ID     string `json:"id"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
	// Excluded is set when the script asked for it (exclude=, disks=):
	// such a disk does not make the set partial.
	Excluded bool `json:"excluded,omitempty"`
}

// Statuses of a set.
const (
	StatusOK      = "ok"
	StatusPartial = "partial"
)

// StatusOf returns the set's status: its Status, or for a set written
// before that field, "partial" when it skipped a disk the script did not
// exclude.
func (c *Catalog) StatusOf() string {
	if c.Status != "" {
		return c.Status
	}
	for _, s := range c.Skipped {
		if !s.Excluded && !strings.HasPrefix(s.Reason, "excluded by the script") {
			return StatusPartial
		}
	}
	return StatusOK
}

// File is one file of the set.
type File struct {
	Name        string `json:"name"`             // relative to the set
	Size        int64  `json:"size"`             // stored bytes
	SHA256      string `json:"sha256,omitempty"` // of the stored bytes; a file with Spans may lack it
	Spans       *Spans `json:"spans,omitempty"`  // the stored bytes' span digest (VersionSpans)
	Compression string `json:"compression"`      // none, gzip, zstd
	Kind        string `json:"kind"`             // config, nvram, snapshot-list, extended-config, log, disk, descriptor
	Source      string `json:"source,omitempty"` // datastore path it came from
	Disk        string `json:"disk,omitempty"`   // disk id for disk and descriptor files
	// Encrypted marks a file stored encrypted (the catalog's Encryption);
	// Size, SHA256 and Spans are of the stored (encrypted) bytes.
	Encrypted bool `json:"encrypted,omitempty"`
}

// Spans is a span digest (internal/spansum, sha256-spans-4m): the sha256
// of every 4 MiB span of the stored file, in order, and the root, the
// sha256 of those digests' 32-byte values one after the other.
type Spans struct {
	Root   string   `json:"root"`
	SHA256 []string `json:"sha256"`
}

// EncryptionScheme is the one encryption scheme (internal/spancrypt's).
const EncryptionScheme = spancrypt.Scheme

// Kinds of files.
const (
	KindConfig     = "config"
	KindNvram      = "nvram"
	KindSnapList   = "snapshot-list"
	KindExtConfig  = "extended-config"
	KindLog        = "log"
	KindDisk       = "disk"
	KindDescriptor = "descriptor"
)

// Formats of stored disk images: a full image, and the delta of an
// incremental (internal/sparse delta stream); version 2 streams (what
// vmlua writes) and version 1 ones (earlier sets).
const (
	FormatSparse2 = "vmlua-sparse-2"
	FormatDelta2  = "vmlua-delta-2"
	FormatSparse1 = "vmlua-sparse-1"
	FormatDelta1  = "vmlua-delta-1"
)

// formats are the known formats: the stream version and whether the
// stream is a delta.
var formats = map[string]struct {
	stream int
	delta  bool
}{FormatSparse2: {2, false}, FormatDelta2: {2, true}, FormatSparse1: {1, false}, FormatDelta1: {1, true}}

// FormatOf names the format of a stream of version stream (a delta or
// not).
func FormatOf(stream int, delta bool) string {
	for name, f := range formats {
		if f.stream == stream && f.delta == delta {
			return name
		}
	}
	return ""
}

// IsDelta reports whether a disk in format is an incremental layer.
func IsDelta(format string) bool { return formats[format].delta }

// StreamVersion is the internal/sparse stream version of format (0 for an
// unknown one).
func StreamVersion(format string) int { return formats[format].stream }

// New returns an empty catalog (version 1; an incremental raises it to
// VersionChain).
func New() *Catalog { return &Catalog{Schema: Schema, Version: VersionFull} }

// Marshal renders the catalog as indented JSON.
func (c *Catalog) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// File returns the file entry of name.
func (c *Catalog) File(name string) (File, bool) {
	for _, f := range c.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Size is the sum of the stored files.
func (c *Catalog) Size() int64 {
	var n int64
	for _, f := range c.Files {
		n += f.Size
	}
	return n
}

// Parse reads and validates a catalog.
func Parse(b []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("the catalog is not valid JSON: %v", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.raw = b
	return &c, nil
}

// Validate checks what restore relies on.
func (c *Catalog) Validate() error {
	var errs []string
	if c.Schema != Schema {
		errs = append(errs, fmt.Sprintf("schema is %q, not %q", c.Schema, Schema))
	}
	if c.Version < 1 || c.Version > Version {
		errs = append(errs, fmt.Sprintf("version %d is not one this vmlua reads (1 to %d): upgrade vmlua", c.Version, Version))
	}
	switch {
	case c.HostConfig != nil:
		if c.HostConfig.Name == "" || len(c.Disks) > 0 {
			errs = append(errs, "a host configuration set needs host_config.name and has no disks")
		}
	case c.VM.Name == "":
		errs = append(errs, "vm.name is empty")
	}
	files := map[string]bool{}
	for _, f := range c.Files {
		if !safeName(f.Name) {
			errs = append(errs, fmt.Sprintf("file name %q is not a plain name inside the set", f.Name))
		}
		if files[f.Name] {
			errs = append(errs, fmt.Sprintf("file %q is listed twice", f.Name))
		}
		files[f.Name] = true
		if f.Encrypted && (c.Encryption == nil || c.Version < VersionEncrypted) {
			errs = append(errs, fmt.Sprintf("file %q is encrypted in a catalog that names no encryption (or of version %d)", f.Name, c.Version))
		}
		switch {
		case f.Spans != nil:
			root, err := spansum.RootOf(f.Spans.SHA256)
			switch {
			case c.Version < VersionSpans:
				errs = append(errs, fmt.Sprintf("file %q has span digests in a version %d catalog", f.Name, c.Version))
			case err != nil || root != f.Spans.Root || len(f.Spans.SHA256) != spansum.Spans(f.Size):
				errs = append(errs, fmt.Sprintf("file %q has no valid span digest (%d spans for %d bytes)", f.Name, len(f.Spans.SHA256), f.Size))
			}
		case len(f.SHA256) != 64:
			errs = append(errs, fmt.Sprintf("file %q has no valid sha256", f.Name))
		}
	}
	for _, d := range c.Disks {
		if d.ID == "" || !files[d.File] || !files[d.Descriptor] {
			errs = append(errs, fmt.Sprintf("disk %q names files the set does not list (%q, %q)", d.ID, d.File, d.Descriptor))
		}
		switch f, ok := formats[d.Format]; {
		case !ok:
			errs = append(errs, fmt.Sprintf("disk %q has unknown format %q", d.ID, d.Format))
		case f.delta && !c.Incremental():
			errs = append(errs, fmt.Sprintf("disk %q is an incremental layer (%s) in a set that is not incremental", d.ID, d.Format))
		case f.stream >= 2 && c.Version < VersionContentSpans:
			errs = append(errs, fmt.Sprintf("disk %q is a version %d stream (%s) in a version %d catalog", d.ID, f.stream, d.Format, c.Version))
		}
	}
	if e := c.Encryption; e != nil {
		switch {
		case e.Scheme != EncryptionScheme:
			errs = append(errs, fmt.Sprintf("encryption scheme %q is not one this vmlua reads (%s): upgrade vmlua", e.Scheme, EncryptionScheme))
		case !safeName(e.KeyFile) || files[e.KeyFile] || len(e.KeySHA256) != 64:
			errs = append(errs, fmt.Sprintf("the encryption's key file %q is not a plain unlisted name of the set with a sha256", e.KeyFile))
		case c.Version < VersionEncrypted:
			errs = append(errs, fmt.Sprintf("an encrypted set in a version %d catalog", c.Version))
		}
	}
	switch c.Mode {
	case "", ModeFull, ModeSynthetic:
		if c.Parent != "" {
			errs = append(errs, fmt.Sprintf("a %s set names a parent (%q)", c.Mode, c.Parent))
		}
	case ModeIncremental:
		if c.Parent == "" {
			errs = append(errs, "an incremental set names no parent")
		}
		if c.Version < VersionChain {
			errs = append(errs, fmt.Sprintf("an incremental set has version %d, not %d", c.Version, VersionChain))
		}
	default:
		errs = append(errs, fmt.Sprintf("unknown mode %q", c.Mode))
	}
	if len(errs) > 0 {
		return errors.New("invalid catalog: " + strings.Join(errs, "; "))
	}
	return nil
}

func safeName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\\") && path.Clean(n) == n
}

// SetID joins a VM name and a time into a set id.
func SetID(vm string, t time.Time) string { return vm + "/" + t.UTC().Format(TimeFormat) }

// ParseSetID splits a set id and parses its time.
func ParseSetID(id string) (vm string, t time.Time, err error) {
	// a host set's id is host/<host>/<timestamp>
	i := strings.LastIndex(id, "/")
	ok := i > 0
	vm, ts := "", ""
	if ok {
		vm, ts = id[:i], id[i+1:]
	}
	if !ok || vm == "" || (strings.Contains(vm, "/") && !strings.HasPrefix(vm, HostPrefix)) {
		return "", time.Time{}, fmt.Errorf("set id %q is not VM/TIMESTAMP", id)
	}
	t, err = time.Parse(TimeFormat, ts)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("set id %q: %q is not a timestamp like 20260102T150405Z", id, ts)
	}
	return vm, t, nil
}
