package guestfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// File system names as Partition.FS gives them.
const (
	FSExt   = "ext4" // ext2, ext3 or ext4: one reader
	FSFAT12 = "fat12"
	FSFAT16 = "fat16"
	FSFAT32 = "fat32"
	FSNTFS  = "ntfs"
	FSExFAT = "exfat"
	FSXFS   = "xfs"
	FSBtrfs = "btrfs"
	FSSwap  = "swap"
	FSLVM   = "lvm2"
)

// Readable reports whether this package reads a file system of that name.
func Readable(fsName string) bool {
	switch fsName {
	case FSExt, FSFAT12, FSFAT16, FSFAT32:
		return true
	}
	return false
}

// Partition is a part of a disk that may hold a file system: a partition
// of its table, or the whole disk when it has none.
type Partition struct {
	Number      int    // as in the table, from 1; 0 is the whole disk (no table)
	Start, Size int64  // bytes
	Table       string // "gpt", "mbr", or "" (the whole disk)
	Type        string // the table's type of the partition (a GPT type's name or GUID, an MBR type as 0x83)
	Name        string // the GPT partition's name
	FS          string // the file system found in it (FSExt, ...; "" none known)
}

// sector is the logical sector size: go-diskfs reads tables in 512-byte
// sectors, as VMware's virtual disks have.
const sector = 512

// Partitions reads the disk's partition table (GPT, else MBR) and finds
// the file system of each partition; a disk without a table is one
// Partition (Number 0) when a file system starts at its first byte. A
// disk with neither is an error saying so. A read of the disk that fails
// is a *ReadError.
func Partitions(r io.ReaderAt, size int64) ([]Partition, error) {
	g := &guard{r: r, size: size}
	ps, err := partitions(g)
	return ps, g.check(err)
}

func partitions(g *guard) ([]Partition, error) {
	head := make([]byte, min(g.size, 34*sector))
	if _, err := g.ReadAt(head, 0); err != nil {
		return nil, err
	}
	if len(head) >= 2*sector && string(head[sector:sector+8]) == "EFI PART" {
		t, err := gpt.Read(newStorage(g), sector, sector)
		if err != nil {
			return nil, fmt.Errorf("the GPT partition table does not read: %w", err)
		}
		var out []Partition
		for _, p := range t.Partitions {
			if p == nil || p.Type == gpt.Unused {
				continue
			}
			out = append(out, Partition{Number: p.Index, Start: int64(p.Start) * sector, Size: int64(p.End-p.Start+1) * sector,
				Table: "gpt", Type: gptTypeName(p.Type), Name: p.Name})
		}
		return detectAll(g, out)
	}
	if fsName, err := detect(g, 0); err != nil {
		return nil, err
	} else if fsName != "" {
		return []Partition{{Number: 0, Start: 0, Size: g.size, FS: fsName}}, nil
	}
	if len(head) >= sector && head[510] == 0x55 && head[511] == 0xAA {
		t, err := mbr.Read(newStorage(g), sector, sector)
		if err != nil {
			return nil, fmt.Errorf("the MBR partition table does not read: %w", err)
		}
		var out []Partition
		for i, p := range t.Partitions {
			if p == nil || p.Type == mbr.Empty || p.Size == 0 {
				continue
			}
			out = append(out, Partition{Number: i + 1, Start: int64(p.Start) * sector, Size: int64(p.Size) * sector,
				Table: "mbr", Type: fmt.Sprintf("0x%02x", byte(p.Type))})
		}
		return detectAll(g, out)
	}
	return nil, fmt.Errorf("the disk has no partition table (MBR or GPT) and no file system this reads at its start")
}

// detectAll finds the file system of each partition (one inside the disk).
func detectAll(g *guard, ps []Partition) ([]Partition, error) {
	for i := range ps {
		p := &ps[i]
		if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > g.size {
			p.FS = ""
			continue
		}
		fsName, err := detect(g, p.Start)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p.Number, err)
		}
		p.FS = fsName
	}
	return ps, nil
}

// detect names the file system that starts at off by its magic numbers
// ("" none known).
func detect(g *guard, off int64) (string, error) {
	b := make([]byte, min(8192, g.size-off))
	if _, err := g.ReadAt(b, off); err != nil && err != io.EOF {
		return "", err
	}
	le16 := func(o int) int { return int(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int { return int(binary.LittleEndian.Uint32(b[o:])) }
	switch {
	case len(b) < 8192:
		return "", nil
	case le16(1024+56) == 0xEF53:
		return FSExt, nil
	case string(b[3:11]) == "NTFS    ":
		return FSNTFS, nil
	case string(b[3:11]) == "EXFAT   ":
		return FSExFAT, nil
	case string(b[0:4]) == "XFSB":
		return FSXFS, nil
	case string(b[4086:4096]) == "SWAPSPACE2" || string(b[4086:4096]) == "SWAP-SPACE":
		return FSSwap, nil
	case string(b[512:520]) == "LABELONE":
		return FSLVM, nil
	}
	if g.size-off > 0x10040+8 {
		m := make([]byte, 8)
		if _, err := g.ReadAt(m, off+0x10040); err != nil && err != io.EOF {
			return "", err
		}
		if string(m) == "_BHRfS_M" {
			return FSBtrfs, nil
		}
	}
	// FAT: a boot sector with a BIOS parameter block; its type is its
	// count of clusters (Microsoft's FAT specification), not its label
	if b[510] != 0x55 || b[511] != 0xAA || (b[0] != 0xEB && b[0] != 0xE9) {
		return "", nil
	}
	bps, spc, rsvd, nfats := le16(11), int(b[13]), le16(14), int(b[16])
	rootEnt, tot, fatSz := le16(17), le16(19), le16(22)
	if tot == 0 {
		tot = le32(32)
	}
	if fatSz == 0 {
		fatSz = le32(36)
	}
	if bps == 0 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 || nfats == 0 || fatSz == 0 || rsvd == 0 {
		return "", nil
	}
	rootSecs := (rootEnt*32 + bps - 1) / bps
	data := tot - (rsvd + nfats*fatSz + rootSecs)
	if data <= 0 {
		return "", nil
	}
	switch clusters := data / spc; {
	case clusters < 4085:
		return FSFAT12, nil
	case clusters < 65525:
		return FSFAT16, nil
	default:
		return FSFAT32, nil
	}
}

// gptTypeName names the common GPT partition types.
func gptTypeName(t gpt.Type) string {
	names := map[gpt.Type]string{
		gpt.EFISystemPartition: "EFI system", gpt.BIOSBoot: "BIOS boot", gpt.MicrosoftReserved: "Microsoft reserved",
		gpt.MicrosoftBasicData: "Microsoft basic data", gpt.MicrosoftWindowsRecovery: "Windows recovery",
		gpt.LinuxSwap: "Linux swap", gpt.LinuxFilesystem: "Linux filesystem", gpt.LinuxRootX86_64: "Linux root (x86-64)",
		gpt.LinuxHome: "Linux home", gpt.LinuxRAID: "Linux RAID", gpt.LinuxLVM: "Linux LVM",
	}
	if n, ok := names[gpt.Type(strings.ToUpper(string(t)))]; ok {
		return n
	}
	return string(t)
}

// String describes the partition for a listing.
func (p Partition) String() string {
	var b bytes.Buffer
	if p.Number == 0 {
		b.WriteString("whole disk")
	} else {
		fmt.Fprintf(&b, "partition %d (%s %s", p.Number, p.Table, p.Type)
		if p.Name != "" {
			fmt.Fprintf(&b, " %q", p.Name)
		}
		b.WriteString(")")
	}
	fsName := p.FS
	if fsName == "" {
		fsName = "no file system known"
	}
	fmt.Fprintf(&b, ", %s", fsName)
	return b.String()
}
