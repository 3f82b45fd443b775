package backup

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// A restored copy's disks get UUIDs of their own. ESXi takes a disk's
// UUID (the backing's uuid, which backup tools and vmlua's own chains key
// on) from its descriptor's ddb.uuid; a copy restored beside the original
// with the original's descriptors would carry the same UUIDs as the
// original's disks, and two disks of one vCenter would claim one identity
// (a later incremental of either would take the other's chain for its own
// were it not for the change ids). An in-place restore (the original's
// name) keeps the UUIDs: it is the same disk again.

// newDDBUUID is a fresh ddb.uuid in the descriptor's spelling: 16 bytes
// in hex, space-separated, with a dash after the eighth ("60 00 C2 9b ...
// 3c-1d ..."), starting with VMware's 60 00 C2 9 prefix as ESXi's do.
func newDDBUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[0], b[1], b[2], b[3] = 0x60, 0x00, 0xc2, 0x90|b[3]&0x0f
	var s strings.Builder
	for i, x := range b {
		switch {
		case i == 8:
			s.WriteByte('-')
		case i > 0:
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", x)
	}
	return s.String()
}

// setDDBUUID sets the descriptor's ddb.uuid (added to the disk database
// when it has none).
func setDDBUUID(desc, uuid string) string {
	lines := strings.Split(strings.TrimRight(desc, "\n"), "\n")
	line := fmt.Sprintf("ddb.uuid = %q", uuid)
	for i, l := range lines {
		if k, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok && strings.TrimSpace(k) == "ddb.uuid" {
			lines[i] = line
			return strings.Join(lines, "\n") + "\n"
		}
	}
	return strings.Join(append(lines, line), "\n") + "\n"
}
