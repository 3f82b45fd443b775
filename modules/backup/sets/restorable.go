package sets

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
)

// The limits restore holds a set to, and so verify (RestoreProblems).
const (
	// MaxDiskBytes is the largest virtual disk vSphere supports: 62 TB,
	// which VMware counts as 62 × 2^40 bytes (VMware Configuration
	// Maximums for vSphere 5.5 and later, Virtual Machine Maximums,
	// "Virtual disk size: 62 TB", configmax.broadcom.com; KB 2058287,
	// "Support for virtual machine disks larger than 2 TB in vSphere 5.5
	// and later"). A catalog claiming more is not a disk vSphere has.
	MaxDiskBytes int64 = 62 << 40
	// MaxVMName is vSphere's limit on a VM's name: 80 characters since
	// vCenter Server 5.0 (VMware KB 2051649).
	MaxVMName = 80
	// maxFileName is the longest file or folder name a datastore takes
	// (VMFS, and the Linux file systems behind NFS datastores and the
	// simulator: 255 bytes).
	maxFileName = 255
	// sectorSize is the unit of a VMDK's capacity.
	sectorSize = 512
)

// StagingPrefix starts the folder restore uploads into before it moves
// it in place: StagingPrefix + the VM's folder + "-" + 8 hex digits.
const StagingPrefix = ".vmlua-restore-"

// stagingSuffix is the length of "-" and the 8 hex digits.
const stagingSuffix = 9

var diskIDRe = regexp.MustCompile(`^(ide|scsi|sata|nvme)[0-9]+:[0-9]+$`)

// RestoreLayout is where restore puts a set's files: the restored VM's
// folder on the datastore and the name of every file in it.
type RestoreLayout struct {
	Dir string // the VM's folder: DirName(name)
	VMX string // the .vmx
	// Renamed are the files named after the VM (.nvram, .vmxf): the
	// catalog's name -> the name in the folder.
	Renamed map[string]string
	// Flat is each disk's flat image, by disk id (its descriptor keeps
	// the catalog's name).
	Flat map[string]string
}

// LayoutOf names the files restore writes for the set restored as name.
func LayoutOf(cat *catalog.Catalog, name string) RestoreLayout {
	base := DirName(name)
	l := RestoreLayout{Dir: base, VMX: base + ".vmx", Renamed: map[string]string{}, Flat: map[string]string{}}
	for _, f := range cat.Files {
		if f.Kind == catalog.KindNvram || f.Kind == catalog.KindExtConfig {
			l.Renamed[f.Name] = base + path.Ext(f.Name)
		}
	}
	for _, d := range cat.Disks {
		l.Flat[d.ID] = strings.TrimSuffix(d.Descriptor, ".vmdk") + "-flat.vmdk"
	}
	return l
}

// RestoreProblems lists what stops restore from putting the set back as
// a VM named name (the catalog's VM name when name is ""): a name that
// cannot be a VM's folder on a datastore, a disk id that is not one (it
// becomes a .vmx key), file names restore would write outside the
// folder, twice, or that a datastore refuses, a disk larger than vSphere
// supports, a small file larger than restore reads whole. It needs no
// vSphere: restore calls it before it connects, and verify calls it too,
// so that a set verify passes is one restore takes. What depends on the
// target datastore (its free space, its own file size limit) restore
// checks when it has it.
func RestoreProblems(cat *catalog.Catalog, name string) []Problem {
	var out []Problem
	add := func(file, format string, args ...any) {
		out = append(out, Problem{File: file, Problem: fmt.Sprintf(format, args...)})
	}
	if cat.HostConfig != nil {
		add(catalog.FileName, "a host configuration set is not a VM: restore it with the host module (scripts/host_config_restore.lua)")
		return out
	}
	own := name == ""
	if own {
		name = cat.VM.Name
	}
	badName := nameProblem(name)
	if badName != "" {
		if own {
			add(catalog.FileName, "the set's VM name %q cannot be a folder on the datastore: it %s; restore it with name= another name", name, badName)
		} else {
			add(catalog.FileName, "the name %q cannot be a folder on the datastore: it %s; give name= another name", name, badName)
		}
	}
	l := LayoutOf(cat, name)

	ids := map[string]bool{}
	checkID := func(id string) {
		switch {
		case !diskIDRe.MatchString(id):
			add(catalog.FileName, "the catalog's disk id %q is not a disk id like scsi0:1", id)
		case ids[id]:
			add(catalog.FileName, "the catalog lists the disk id %q twice", id)
		}
		ids[id] = true
	}
	// every file restore writes into the VM's folder, once
	written := map[string]string{l.VMX: "the .vmx"}
	write := func(file, name, what string, named bool) {
		if named && badName != "" {
			return // named after the VM: its name's problem says it
		}
		if why := fileNameProblem(name); why != "" {
			add(file, "restore would write %s as %q, which %s", what, name, why)
		}
		if other, ok := written[name]; ok {
			add(file, "restore would write %s as %q, the name of %s", what, name, other)
		}
		written[name] = what
	}
	for _, d := range cat.Disks {
		checkID(d.ID)
		switch {
		case d.Capacity <= 0:
			add(d.File, "disk %s has no capacity (%d bytes)", d.ID, d.Capacity)
		case d.Capacity > MaxDiskBytes:
			add(d.File, "disk %s claims %d bytes (%s), more than the largest virtual disk vSphere supports (62 TiB): the catalog is wrong", d.ID, d.Capacity, HumanBytes(d.Capacity))
		case d.Capacity%sectorSize != 0:
			add(d.File, "disk %s claims %d bytes, not a whole number of 512-byte sectors", d.ID, d.Capacity)
		}
		write(d.Descriptor, d.Descriptor, "the descriptor of disk "+d.ID, false)
		write(d.File, l.Flat[d.ID], "the image of disk "+d.ID, false)
	}
	for _, s := range cat.Skipped {
		checkID(s.ID)
	}
	configs := 0
	for _, f := range cat.Files {
		switch f.Kind {
		case catalog.KindConfig:
			configs++
		case catalog.KindNvram, catalog.KindExtConfig:
			write(f.Name, l.Renamed[f.Name], "the "+f.Kind+" file "+f.Name, true)
		case catalog.KindDescriptor:
		default:
			continue
		}
		if f.Size > maxSmall {
			add(f.Name, "the %s file is %d bytes: restore reads such a file whole, up to %d bytes", f.Kind, f.Size, maxSmall)
		}
	}
	if configs != 1 {
		add(catalog.FileName, "the catalog lists %d .vmx files (kind %q), not one", configs, catalog.KindConfig)
	}
	return out
}

// nameProblem says why a VM name cannot be a restored VM's name and its
// folder on a datastore ("" when it can).
func nameProblem(name string) string {
	dir := DirName(name)
	switch {
	case name == "":
		return "is empty"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(name) > MaxVMName:
		return fmt.Sprintf("is longer than the %d characters vSphere allows", MaxVMName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "holds a control character (a newline, a tab, an escape sequence...)"
	case strings.TrimSpace(name) != name:
		return "begins or ends with white space"
	case strings.ContainsAny(name, `/\`):
		return `holds / or \, which vSphere escapes in a VM's name (%2f, %5c)`
	case dir == "." || dir == "..":
		return "is . or .., not a folder name"
	case strings.Contains(dir, ".."):
		return "holds \"..\", which the datastore's file service refuses in a path"
	case strings.ContainsAny(dir, "[]"):
		return "holds [ or ], which delimit the datastore in a datastore path"
	case strings.ContainsAny(dir, "*?"):
		return "holds * or ?, which the datastore browser reads as a pattern"
	case strings.Contains(dir, "%"):
		return "holds %, vSphere's escape character in names and paths"
	case len(StagingPrefix)+len(dir)+stagingSuffix > maxFileName:
		return fmt.Sprintf("makes a folder name longer than the %d bytes a datastore takes", maxFileName)
	}
	return ""
}

// fileNameProblem says why restore cannot write a file of this name into
// the VM's folder ("" when it can).
func fileNameProblem(n string) string {
	switch {
	case n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\"):
		return "is not a plain file name"
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return "holds a control character"
	case strings.Contains(n, ".."):
		return "holds \"..\", which the datastore's file service refuses in a path"
	case strings.ContainsAny(n, "[]\""):
		return "holds [, ] or \", which datastore paths and .vmx values cannot carry"
	case len(n) > maxFileName:
		return fmt.Sprintf("is longer than the %d bytes a datastore takes", maxFileName)
	}
	return ""
}

// Restorable is RestoreProblems as the error restore raises
// (invalid_argument), nil when there is none.
func Restorable(cat *catalog.Catalog, name string) error {
	ps := RestoreProblems(cat, name)
	if len(ps) == 0 {
		return nil
	}
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Problem
	}
	if name == "" {
		name = cat.VM.Name
	}
	if nameProblem(name) != "" {
		name = "" // the message quotes it
	}
	return &runtime.Error{Code: runtime.CodeInvalidArg, VM: name, Path: cat.ID, Message: "the set cannot be restored (nothing was written): " + strings.Join(msgs, "; ")}
}

// HumanBytes renders n in binary units for a message: "62 TiB", "1 EiB".
func HumanBytes(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g %s", f, units[i])
}
