package vsim

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// A VM registered from a .vmx whose disk is a snapshot delta (a VM copied
// with its snapshots, or restored so) gets its whole chain: the delta
// descriptors are followed by parentFileNameHint down to the flat base,
// and each delta file's tables are read (openSparse), so the disk reads as
// ESXi would read it. The snapshot tree comes from the .vmsd
// (snapshot_tree.go).

// vmdkDescriptor is what the simulator reads of a VMDK text descriptor.
type vmdkDescriptor struct {
	createType, parentHint, extent string
	cid                            uint32
}

func readDescriptor(local string) (vmdkDescriptor, error) {
	b, err := os.ReadFile(local)
	if err != nil {
		return vmdkDescriptor{}, err
	}
	var d vmdkDescriptor
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if ok {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			switch strings.TrimSpace(k) {
			case "createType":
				d.createType = v
			case "parentFileNameHint":
				d.parentHint = v
			case "CID":
				c, _ := strconv.ParseUint(v, 16, 32)
				d.cid = uint32(c)
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 4 && (f[0] == "RW" || f[0] == "RDONLY") && d.extent == "" {
			if i, j := strings.Index(line, `"`), strings.LastIndex(line, `"`); i >= 0 && j > i {
				d.extent = line[i+1 : j]
			}
		}
	}
	return d, nil
}

func isDeltaType(t string) bool { return t == "vmfsSparse" || t == "seSparse" }

// deltaChain returns the deltas (bottom first) a registered disk's
// descriptor leads to, and the dsPath of its base; none for a base.
func (s *Sim) deltaChain(top string, capacity int64) ([]*layer, string, error) {
	var deltas []*layer
	cur := top
	for depth := 0; ; depth++ {
		if depth > MaxSnapshotLevels {
			return nil, "", fmt.Errorf("%s: a chain deeper than %d levels", top, MaxSnapshotLevels)
		}
		local, err := s.dsLocal(cur)
		if err != nil {
			return nil, "", err
		}
		desc, err := readDescriptor(local)
		if err != nil || !isDeltaType(desc.createType) {
			// the base (or no descriptor yet: a new disk)
			for i, j := 0, len(deltas)-1; i < j; i, j = i+1, j-1 {
				deltas[i], deltas[j] = deltas[j], deltas[i]
			}
			return deltas, cur, nil
		}
		l := &layer{dsPath: cur, descFile: local, dataFile: filepath.Join(filepath.Dir(local), desc.extent), cid: desc.cid}
		f, err := os.OpenFile(l.dataFile, os.O_RDWR, 0)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", cur, err)
		}
		l.f = f
		if l.sp, err = openSparse(f, capacity); err != nil {
			f.Close()
			return nil, "", fmt.Errorf("%s: %w", l.dataFile, err)
		}
		grains := (capacity + GrainSize - 1) / GrainSize
		l.bits = make([]uint64, (grains+63)/64)
		for g := range l.sp.goff {
			l.set(g)
		}
		deltas = append(deltas, l)
		if desc.parentHint == "" {
			return nil, "", fmt.Errorf("%s: a delta without parentFileNameHint", cur)
		}
		if strings.HasPrefix(desc.parentHint, "[") {
			cur = desc.parentHint
		} else {
			cur = fmt.Sprintf("[%s] %s", dsPathName(cur), path.Join(path.Dir(dsPathPath(cur)), desc.parentHint))
		}
	}
}
