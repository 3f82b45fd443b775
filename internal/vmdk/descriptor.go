package vmdk

import (
	"bufio"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Extent is one data file a descriptor names.
type Extent struct {
	File  string // file name, relative to the descriptor's folder
	Bytes int64
	Type  string // VMFS, FLAT, VMFSSPARSE, SESPARSE, ...
}

var extentLine = regexp.MustCompile(`^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\S+)\s+"([^"]+)"`)

// FlatExtents returns a descriptor's extents, which must all be flat
// (VMFS or FLAT): only those can be read as a flat image. A delta's
// extents (VMFSSPARSE, SESPARSE) are refused with a clear error.
func FlatExtents(desc string) ([]Extent, error) {
	var out []Extent
	sc := bufio.NewScanner(strings.NewReader(desc))
	for sc.Scan() {
		m := extentLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		switch m[3] {
		case "VMFS", "FLAT":
		default:
			return nil, fmt.Errorf("the disk's extent %q is of type %s; only flat (VMFS/FLAT) extents can be read as a flat image", m[4], m[3])
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		out = append(out, Extent{File: m[4], Bytes: n * 512, Type: m[3]})
	}
	if len(out) == 0 {
		return nil, errors.New("the disk descriptor names no extent")
	}
	return out, nil
}

// FlatDescriptor rewrites a descriptor to name one flat extent of sectors
// 512-byte sectors and no parent, so that the pair is a usable disk on its
// own.
func FlatDescriptor(desc string, sectors int64, flat string) string {
	var b strings.Builder
	wroteExtent := false
	for _, line := range strings.Split(desc, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case extentLine.MatchString(t):
			if !wroteExtent {
				fmt.Fprintf(&b, "RW %d VMFS %q\n", sectors, flat)
				wroteExtent = true
			}
			continue
		case strings.HasPrefix(t, "parentCID"):
			b.WriteString("parentCID=ffffffff\n")
			continue
		case strings.HasPrefix(t, "parentFileNameHint"):
			continue
		case strings.HasPrefix(t, "createType"):
			b.WriteString("createType=\"vmfs\"\n")
			continue
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}
