package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
)

// marker is written all over the simulated disk: a target's bytes must
// not hold it when the set is encrypted.
var marker = []byte("VMLUA-PLAINTEXT-MARKER:the guest's secret data|")

// markerBlock is a GrainSize multiple filled with marker.
func markerBlock(n int) []byte {
	return bytes.Repeat(marker, n/len(marker)+1)[:n]
}

// storedFilesWith lists the files under dir/id whose bytes contain m.
func storedFilesWith(t *testing.T, dir, id string, m []byte) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(filepath.Join(dir, id), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, m) {
			out = append(out, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// encEnv is a simulator whose backups run as on a backup host (the
// keyring has recipients only) and restores as on a restore host (it has
// the identity).
type encEnv struct {
	*simtest.Env
	id          *age.X25519Identity
	backupHost  context.Context
	restoreHost context.Context
	frozen      map[string]uint64
	mu          bool
}

func (c *encEnv) backup(t *testing.T, mode, compress, encrypt string) *catalog.Catalog {
	t.Helper()
	if err := c.Sim.PauseGuest("DB01"); err != nil {
		t.Fatal(err)
	}
	seq, err := c.Sim.WriteSeq("DB01")
	if err != nil {
		t.Fatal(err)
	}
	err, recs := c.Run(t, `
		local vm = require "vm"
		local o = { to = arg.dest, mode = arg.mode, compress = arg.compress }
		if arg.encrypt == "false" then o.encrypt = false elseif arg.encrypt ~= "" then o.encrypt = { recipients = { arg.encrypt } } end
		local set = vm.open("name:DB01"):backup(o)
		assert(set.complete)
		print("SET " .. set.id)
	`, simtest.RunOptions{Args: []string{"mode=" + mode, "compress=" + compress, "encrypt=" + encrypt}, Ctx: c.backupHost})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	cat := readCatalogAt(t, c.Dir, printed(recs, "SET "))
	c.frozen[cat.ID] = seq
	if cat.Encryption != nil {
		logged := recs.Find("backup: the set's catalog is authenticated")
		if len(logged) != 1 || logged[0]["catalog_mac"] != cat.Encryption.MAC {
			t.Errorf("set %s: the run's log does not record its catalog MAC %s: %v", cat.ID, cat.Encryption.MAC, logged)
		}
	}
	return cat
}

// restore restores set id as name with ctx's keyring; it returns the
// error's code ("" when it worked) and message.
func (c *encEnv) restore(t *testing.T, ctx context.Context, id, name string) (string, string) {
	t.Helper()
	err, recs := c.Run(t, `
		local backup = require "backup"
		local ok, err = pcall(backup.restore, { from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = arg.name })
		if not ok then print("CODE " .. tostring(err.code)) print("MESSAGE " .. tostring(err.message)) end
	`, simtest.RunOptions{Args: []string{"set=" + id, "name=" + name}, Ctx: ctx})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	return printedLine(recs, "CODE "), printedLine(recs, "MESSAGE ")
}

func printedLine(recs *simtest.Records, prefix string) string {
	for _, l := range recs.Printed() {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return rest
		}
	}
	return ""
}

// matches reports whether the restored VM name's disks hold set cat's
// point.
func (c *encEnv) matches(t *testing.T, cat *catalog.Catalog, name string) {
	t.Helper()
	for _, d := range cat.Disks {
		want, size, err := c.Sim.ExpectedContent("DB01", d.ID, c.frozen[cat.ID])
		if err != nil {
			t.Fatal(err)
		}
		if got := c.DiskSHA(t, "[LocalDS_1] "+name+"/"+d.Descriptor); got != simtest.ShaOf(t, want, size) {
			t.Errorf("%s (%s): restored disk %s differs from the disk at its freeze", cat.ID, cat.Mode, d.ID)
		}
	}
}

// verify runs backup.verify with ctx's keyring: ok, authenticated and the
// problems.
func (c *encEnv) verify(t *testing.T, ctx context.Context, id string) (ok bool, auth string, problems string) {
	t.Helper()
	err, recs := c.Run(t, `
		local backup = require "backup"
		local r = backup.verify{ at = arg.dest, set = arg.set }
		for _, p in ipairs(r.problems) do print("PROBLEM " .. p.file .. ": " .. p.problem) end
		print("OK " .. tostring(r.ok))
		print("AUTH " .. tostring(r.authenticated))
	`, simtest.RunOptions{Args: []string{"set=" + id}, Ctx: ctx})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	return printedLine(recs, "OK ") == "true", printedLine(recs, "AUTH "), strings.Join(recs.Printed(), "\n")
}

// withFileChanged runs f while the set's file name holds change(bytes),
// and puts it back after.
func withFileChanged(t *testing.T, p string, change func([]byte) []byte, f func()) {
	t.Helper()
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, change(append([]byte(nil), orig...)), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(p, orig, 0o644)
	f()
}

func TestEncryptedSets(t *testing.T) {
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 4 << 20})
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	c := &encEnv{Env: e, id: id, frozen: map[string]uint64{},
		backupHost:  sets.WithKeyring(context.Background(), &sets.Keyring{Recipients: []string{id.Recipient().String()}}),
		restoreHost: sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{id}})}
	wrongHost := sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{other}})
	// the marker on every grain of the first MiB of every disk, as data
	// the guest wrote
	if _, err := e.Sim.GuestWriteData("DB01", "scsi0:0", 0, markerBlock(1<<20)); err != nil {
		t.Fatal(err)
	}

	plain := c.backup(t, "full", "none", "false")
	full := c.backup(t, "full", "none", "") // the config's recipients
	var chain []*catalog.Catalog
	for i := range 3 {
		if _, err := e.Sim.GuestWrite("DB01", 40); err != nil {
			t.Fatal(err)
		}
		mode := "incremental"
		if i == 0 {
			mode = "full"
		}
		chain = append(chain, c.backup(t, mode, "zstd", id.Recipient().String()))
	}
	mid := chain[1]

	t.Run("an unencrypted set holds the disk's plaintext (the check below would see it)", func(t *testing.T) {
		if got := storedFilesWith(t, e.Dir, plain.ID, marker); len(got) == 0 {
			t.Fatalf("the unencrypted set %s does not hold the marker: the plaintext check proves nothing", plain.ID)
		}
		if plain.Encryption != nil || plain.Version >= catalog.VersionEncrypted {
			t.Fatalf("encrypt=false made an encrypted set (version %d)", plain.Version)
		}
	})
	t.Run("no stored byte of an encrypted set holds the disk's plaintext", func(t *testing.T) {
		for _, s := range append([]*catalog.Catalog{full}, chain...) {
			if got := storedFilesWith(t, e.Dir, s.ID, marker); len(got) > 0 {
				t.Errorf("set %s: %v hold the disk's plaintext", s.ID, got)
			}
			if s.Encryption == nil || s.Encryption.MAC == "" || s.Version != catalog.VersionEncrypted {
				t.Errorf("set %s: catalog version %d, encryption %+v", s.ID, s.Version, s.Encryption)
			}
			for _, f := range s.Files {
				if !f.Encrypted {
					t.Errorf("set %s: file %s is not encrypted", s.ID, f.Name)
				}
			}
		}
	})
	t.Run("a dry run says it would encrypt; a recipient that is not a public key, or encrypt=true without any, is refused before anything", func(t *testing.T) {
		err, recs := c.Run(t, `require("vm").open("name:DB01"):backup{ to = arg.dest }`, simtest.RunOptions{Ctx: c.backupHost, DryRun: true})
		if err != nil || len(recs.Find("dry run: would encrypt the set")) != 1 {
			t.Errorf("dry run: %v\n%s", err, recs)
		}
		for _, tc := range []struct{ name, opt, code, want string }{
			{"a private key as recipient", "encrypt = { recipients = { arg.key } }", "invalid_argument", "private key"},
			{"a word as recipient", "encrypt = { recipients = { 'age1nope' } }", "invalid_argument", "not an age public key"},
			{"encrypt=true without recipients", "encrypt = true", "config", "[encryption]"},
		} {
			before, _ := os.ReadDir(filepath.Join(e.Dir, "DB01"))
			err, recs := c.Run(t, `
				local ok, err = pcall(function() require("vm").open("name:DB01"):backup{ to = arg.dest, `+tc.opt+` } end)
				print("CODE " .. tostring(err.code)) print("MESSAGE " .. tostring(err.message))
			`, simtest.RunOptions{Args: []string{"key=" + other.String()}})
			if err != nil {
				t.Fatalf("%s: %v\n%s", tc.name, err, recs)
			}
			code, msg := printedLine(recs, "CODE "), printedLine(recs, "MESSAGE ")
			if code != tc.code || !strings.Contains(msg, tc.want) || strings.Contains(msg, other.String()) {
				t.Errorf("%s: code %q message %q", tc.name, code, msg)
			}
			if after, _ := os.ReadDir(filepath.Join(e.Dir, "DB01")); len(after) != len(before) {
				t.Errorf("%s: a set folder was made", tc.name)
			}
		}
	})
	t.Run("backup.list says which sets are encrypted, without a key", func(t *testing.T) {
		err, recs := c.Run(t, `
			for _, s in ipairs(require("backup").list{ at = arg.dest, vm = "DB01" }) do print(s.id .. " " .. tostring(s.encrypted)) end
		`, simtest.RunOptions{Ctx: c.backupHost})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
		got := strings.Join(recs.Printed(), "\n")
		if !strings.Contains(got, plain.ID+" nil") || !strings.Contains(got, full.ID+" true") || !strings.Contains(got, mid.ID+" true") {
			t.Errorf("backup.list:\n%s", got)
		}
	})
	t.Run("a set restores with the identity; a middle point of an incremental chain too", func(t *testing.T) {
		if code, msg := c.restore(t, c.restoreHost, full.ID, "EF"); code != "" {
			t.Fatalf("restore of the encrypted full: %s %s", code, msg)
		}
		c.matches(t, full, "EF")
		if code, msg := c.restore(t, c.restoreHost, mid.ID, "EM"); code != "" {
			t.Fatalf("restore of the middle point: %s %s", code, msg)
		}
		c.matches(t, mid, "EM")
	})
	t.Run("an alternate catalog (catalog=, as the operator gives it) restores an encrypted set", func(t *testing.T) {
		err, recs := c.Run(t, `
			local backup = require "backup"
			backup.restore{ from = arg.dest, set = arg.set, catalog = arg.set .. "/catalog.json", datastore = "LocalDS_1", name = "EA" }
		`, simtest.RunOptions{Args: []string{"set=" + full.ID}, Ctx: c.restoreHost})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
		c.matches(t, full, "EA")
	})
	t.Run("an old unencrypted set still restores on a host with an identity", func(t *testing.T) {
		if code, msg := c.restore(t, c.restoreHost, plain.ID, "OP"); code != "" {
			t.Fatalf("restore of the unencrypted set: %s %s", code, msg)
		}
		c.matches(t, plain, "OP")
	})
	t.Run("with [encryption] require, a plain set is refused by restore and verify", func(t *testing.T) {
		strict := sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{id}, Require: true})
		if code, msg := c.restore(t, strict, plain.ID, "RQ"); code != "verify" || !strings.Contains(msg, "require") {
			t.Errorf("restore of the plain set: code %q message %q", code, msg)
		}
		if ok, _, out := c.verify(t, strict, plain.ID); ok || !strings.Contains(out, "not encrypted") {
			t.Errorf("verify of the plain set passes:\n%s", out)
		}
		if code, msg := c.restore(t, strict, full.ID, "RQ2"); code != "" {
			t.Errorf("restore of an encrypted set with require: %s %s", code, msg)
		}
	})
	t.Run("restore without the identity, or with another one, fails before writing and says what to give", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			ctx  context.Context
			code string
			want string
		}{
			{"missing key (the backup host)", c.backupHost, "config", "--identity"},
			{"wrong key", wrongHost, "auth", "other recipients"},
		} {
			code, msg := c.restore(t, tc.ctx, mid.ID, "X"+strings.Fields(tc.name)[0])
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("%s: code %q message %q, want %q naming %q", tc.name, code, msg, tc.code, tc.want)
			}
		}
	})
	t.Run("verify on the backup host checks stored bytes and says it could not authenticate; with the identity it does", func(t *testing.T) {
		if ok, auth, out := c.verify(t, c.backupHost, chain[2].ID); !ok || auth != "false" {
			t.Errorf("without identity: ok %v authenticated %s\n%s", ok, auth, out)
		}
		if ok, auth, out := c.verify(t, c.restoreHost, chain[2].ID); !ok || auth != "true" {
			t.Errorf("with identity: ok %v authenticated %s\n%s", ok, auth, out)
		}
		if ok, _, out := c.verify(t, wrongHost, chain[2].ID); ok {
			t.Errorf("with a wrong identity verify passes\n%s", out)
		}
	})
	img := filepath.Join(e.Dir, mid.ID, mid.Disks[0].File)
	t.Run("a tampered span is named by verify and refused by restore", func(t *testing.T) {
		withFileChanged(t, img, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }, func() {
			ok, _, out := c.verify(t, c.restoreHost, chain[2].ID)
			if ok || !strings.Contains(out, mid.ID+"/"+mid.Disks[0].File) || !strings.Contains(out, "span ") {
				t.Errorf("verify does not name the damaged span of %s:\n%s", mid.ID, out)
			}
			if code, _ := c.restore(t, c.restoreHost, mid.ID, "TS"); code == "" {
				t.Error("restore of a tampered set worked")
			}
		})
	})
	// an attacker who can write the target rewrites the data and the
	// catalog's digests of it: what the catalog MAC is for
	rewriteCatalog := func(t *testing.T, set *catalog.Catalog, change func(b []byte) []byte, file string) func([]byte) []byte {
		return func(js []byte) []byte {
			var raw map[string]any
			if err := json.Unmarshal(js, &raw); err != nil {
				t.Fatal(err)
			}
			if file != "" {
				p := filepath.Join(e.Dir, set.ID, file)
				b, _ := os.ReadFile(p)
				b = change(b)
				os.WriteFile(p, b, 0o644)
				d, _ := spansum.Read(bytes.NewReader(b))
				for _, f := range raw["files"].([]any) {
					if f := f.(map[string]any); f["name"] == file {
						f["size"] = float64(len(b))
						f["spans"] = map[string]any{"root": d.Root, "sha256": d.Spans}
					}
				}
			} else {
				raw["vm"].(map[string]any)["cpus"] = float64(64)
			}
			out, _ := json.MarshalIndent(raw, "", "  ")
			return out
		}
	}
	swap := func(b []byte) []byte {
		// two 64 KiB encrypted spans swapped (stored bytes 48+...)
		const hdr, span = 48, 64<<10 + 16
		if len(b) < hdr+2*span {
			t.Fatalf("the image is too small (%d bytes) to swap spans", len(b))
		}
		s0 := append([]byte(nil), b[hdr:hdr+span]...)
		copy(b[hdr:], b[hdr+span:hdr+2*span])
		copy(b[hdr+span:], s0)
		return b
	}
	catPath := filepath.Join(e.Dir, full.ID, catalog.FileName)
	fullImg := full.Disks[0].File
	for _, tc := range []struct {
		name   string
		change func(t *testing.T) func([]byte) []byte
		file   string
	}{
		{"a catalog edited (its VM's CPUs)", func(t *testing.T) func([]byte) []byte { return rewriteCatalog(t, full, nil, "") }, ""},
		{"two spans swapped, the catalog's digests rewritten with them", func(t *testing.T) func([]byte) []byte { return rewriteCatalog(t, full, swap, fullImg) }, fullImg},
	} {
		t.Run(tc.name+": verify with the identity and restore refuse the set", func(t *testing.T) {
			var imgOrig []byte
			if tc.file != "" {
				imgOrig, _ = os.ReadFile(filepath.Join(e.Dir, full.ID, tc.file))
				defer os.WriteFile(filepath.Join(e.Dir, full.ID, tc.file), imgOrig, 0o644)
			}
			withFileChanged(t, catPath, tc.change(t), func() {
				if ok, _, out := c.verify(t, c.backupHost, full.ID); !ok {
					t.Logf("(without identity verify sees it too)\n%s", out)
				}
				ok, _, out := c.verify(t, c.restoreHost, full.ID)
				if ok || !strings.Contains(out, "fails authentication") {
					t.Errorf("verify with the identity does not detect it:\n%s", out)
				}
				code, msg := c.restore(t, c.restoreHost, full.ID, fmt.Sprintf("TC%d", len(tc.name)))
				if code != "verify" || !strings.Contains(msg, "fails authentication") {
					t.Errorf("restore: code %q message %q", code, msg)
				}
			})
		})
	}
	t.Run("a parent's catalog changed after its incremental was made (then put back) fails the chain, naming it", func(t *testing.T) {
		if mid.ParentCatalogSHA256 == "" {
			t.Fatalf("the incremental %s records no parent catalog sha256", mid.ID)
		}
		// as if the target had served the next backup altered change
		// ids: the parent's catalog bytes differ from what the child read
		p := filepath.Join(e.Dir, chain[0].ID, catalog.FileName)
		withFileChanged(t, p, func(b []byte) []byte { return append(b, '\n') }, func() {
			ok, _, out := c.verify(t, c.restoreHost, mid.ID)
			if ok || !strings.Contains(out, "has changed since") {
				t.Errorf("verify of the middle point:\n%s", out)
			}
			if code, msg := c.restore(t, c.restoreHost, mid.ID, "PC"); code != "verify" || !strings.Contains(msg, "has changed since") {
				t.Errorf("restore of the middle point: %q %q", code, msg)
			}
		})
	})
	t.Run("synthesize merges an encrypted chain into an encrypted full of the same point", func(t *testing.T) {
		err, recs := c.Run(t, `
			local backup = require "backup"
			local s = backup.synthesize{ at = arg.dest, set = arg.set }
			print("SYNTH " .. s.id)
		`, simtest.RunOptions{Args: []string{"set=" + chain[2].ID}, Ctx: c.restoreHost})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
		syn := readCatalogAt(t, e.Dir, printed(recs, "SYNTH "))
		defer os.RemoveAll(filepath.Join(e.Dir, syn.ID))
		if syn.Encryption == nil || len(storedFilesWith(t, e.Dir, syn.ID, marker)) > 0 {
			t.Fatalf("the synthetic set is not encrypted: %+v", syn.Encryption)
		}
		c.frozen[syn.ID] = c.frozen[chain[2].ID]
		if code, msg := c.restore(t, c.restoreHost, syn.ID, "SY"); code != "" {
			t.Fatalf("restore of the synthetic set: %s %s", code, msg)
		}
		c.matches(t, syn, "SY")
	})
}
