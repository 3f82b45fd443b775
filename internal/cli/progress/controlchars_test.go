package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLabelsFromVSphereStayOneLine: an operation's name holds a VM's name
// (any text vSphere allows) and its failure an error's text: newlines and
// escape sequences in them are escaped, so each progress line is one line
// and cannot repaint the terminal.
func TestLabelsFromVSphereStayOneLine(t *testing.T) {
	off := false
	clk := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	s := New(&buf, Options{Terminal: &off, Every: time.Second, Now: clk.now})
	tr := s.Start("DB01\nvmlua: all backups ok\x1b[2K scsi0:0", 1<<20)
	clk.advance(2 * time.Second)
	tr.Add(1 << 19)
	tr.Done(errors.New("reset\r\x1b[32mdone"))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		`DB01\nvmlua: all backups ok\x1b[2K scsi0:0: started (1.0 MiB)`,
		`DB01\nvmlua: all backups ok\x1b[2K scsi0:0: 512.0 KiB of 1.0 MiB (50%), 256.0 KiB/s`,
		`DB01\nvmlua: all backups ok\x1b[2K scsi0:0: failed after 512.0 KiB and 2s: reset\r\x1b[32mdone`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if strings.ContainsRune(buf.String(), 0x1b) || strings.Contains(buf.String(), "\r") {
		t.Errorf("a control character reached the output: %q", buf.String())
	}
}
