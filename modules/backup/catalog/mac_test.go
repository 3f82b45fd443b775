package catalog

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/spancrypt"
)

// TestTheMACCoversTheFileAsWritten: a catalog's MAC is checked over the
// bytes of its file, so a field a later vmlua writes (and this one does
// not know) neither breaks the check nor escapes it.
func TestTheMACCoversTheFileAsWritten(t *testing.T) {
	key := spancrypt.NewDataKey()
	c := New()
	c.Version, c.ID, c.Complete, c.VM.Name, c.Started = VersionEncrypted, "DB01/20260102T030405Z", true, "DB01", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Encryption = &Encryption{Scheme: EncryptionScheme, KeyFile: "key.age", KeySHA256: strings.Repeat("a", 64), Recipients: 1}
	// as a later vmlua writes it: a field this one does not know
	b0, err := c.MarshalWithoutMAC()
	if err != nil {
		t.Fatal(err)
	}
	later := bytes.Replace(b0, []byte("{\n"), []byte("{\n  \"a_later_field\": \"x\",\n"), 1)
	mac, err := spancrypt.CatalogMAC(key, later)
	if err != nil {
		t.Fatal(err)
	}
	file := bytes.Replace(later, []byte(`"mac": ""`), []byte(`"mac": "`+mac+`"`), 1)
	for _, tc := range []struct {
		name string
		file []byte
		ok   bool
	}{
		{"the file as written", file, true},
		{"its later field changed", bytes.Replace(file, []byte(`"x"`), []byte(`"y"`), 1), false},
		{"its VM renamed", bytes.Replace(file, []byte(`"DB01"`), []byte(`"DB02"`), 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			in, err := p.MACBytes()
			if err != nil {
				t.Fatal(err)
			}
			if got := spancrypt.CheckCatalogMAC(key, in, p.Encryption.MAC); got != tc.ok {
				t.Fatalf("the MAC checks: %v, want %v", got, tc.ok)
			}
		})
	}
}
