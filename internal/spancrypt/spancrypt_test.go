package spancrypt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func encrypt(t *testing.T, key, plain []byte, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key, name)
	if err != nil {
		t.Fatal(err)
	}
	// odd write sizes cross span boundaries
	for p := plain; len(p) > 0; {
		k := min(len(p), 7919)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != StoredSize(int64(len(plain))) {
		t.Fatalf("stored %d bytes, StoredSize says %d", buf.Len(), StoredSize(int64(len(plain))))
	}
	return buf.Bytes()
}

func decryptAll(key, stored []byte, name string) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(stored), key, name)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

func TestRoundTripEverySize(t *testing.T) {
	key := NewDataKey()
	for _, n := range []int{0, 1, SpanSize - 1, SpanSize, SpanSize + 1, 3 * SpanSize, 3*SpanSize + 17} {
		plain := randBytes(n)
		stored := encrypt(t, key, plain, "disk.vls.zst")
		got, err := decryptAll(key, stored, "disk.vls.zst")
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: stream read back %d bytes, err %v", n, len(got), err)
		}
		if ps, err := PlainSize(int64(len(stored))); err != nil || ps != int64(n) {
			t.Fatalf("%d bytes: PlainSize %d, %v", n, ps, err)
		}
		ra, err := NewReaderAt(func(off, k int64) ([]byte, error) { return stored[off : off+k], nil }, int64(len(stored)), key, "disk.vls.zst")
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range [][2]int64{{0, int64(n)}, {int64(n) / 3, int64(n) / 2}, {max(0, int64(n)-5), min(5, int64(n))}} {
			b, err := ra.Range(rg[0], rg[1])
			if err != nil || !bytes.Equal(b, plain[rg[0]:rg[0]+rg[1]]) {
				t.Fatalf("%d bytes: Range(%d, %d) differs, err %v", n, rg[0], rg[1], err)
			}
		}
	}
}

func TestEveryWriteOfAFileHasItsOwnKey(t *testing.T) {
	key, plain := NewDataKey(), bytes.Repeat([]byte("same plaintext "), 1000)
	a, b := encrypt(t, key, plain, "f"), encrypt(t, key, plain, "f")
	if bytes.Equal(a[HeaderSize:], b[HeaderSize:]) {
		t.Fatal("two writes of the same file under the same data key have the same ciphertext: a nonce is reused")
	}
	if bytes.Contains(a, []byte("same plaintext")) {
		t.Fatal("the plaintext is in the stored bytes")
	}
}

func TestAlterationsFailNamingTheSpan(t *testing.T) {
	key := NewDataKey()
	plain := randBytes(4*SpanSize + 100)
	stored := encrypt(t, key, plain, "disk.vls")
	span := func(i int) []byte {
		off := HeaderSize + i*sealedSpan
		return stored[off:min(off+sealedSpan, len(stored))]
	}
	cases := []struct {
		name, file string
		key        []byte
		mutate     func([]byte) []byte
		want       string // in the error
	}{
		{"a flipped bit in span 2", "disk.vls", key, func(b []byte) []byte { b[HeaderSize+2*sealedSpan+10] ^= 1; return b }, "span 2 of disk.vls"},
		{"spans 1 and 2 swapped", "disk.vls", key, func(b []byte) []byte {
			s1, s2 := append([]byte(nil), span(1)...), append([]byte(nil), span(2)...)
			copy(b[HeaderSize+sealedSpan:], s2)
			copy(b[HeaderSize+2*sealedSpan:], s1)
			return b
		}, "span 1 of disk.vls"},
		{"the last span dropped", "disk.vls", key, func(b []byte) []byte { return b[:HeaderSize+4*sealedSpan] }, "span 3 of disk.vls"},
		{"a span appended", "disk.vls", key, func(b []byte) []byte { return append(b, span(1)...) }, "span 4 of disk.vls"},
		{"the salt altered", "disk.vls", key, func(b []byte) []byte { b[len(magic)] ^= 1; return b }, "span 0 of disk.vls"},
		{"the file renamed", "other.vls", key, func(b []byte) []byte { return b }, "span 0 of other.vls"},
		{"another set's key", "disk.vls", NewDataKey(), func(b []byte) []byte { return b }, "span 0 of disk.vls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(append([]byte(nil), stored...))
			_, err := decryptAll(c.key, b, c.file)
			if !errors.Is(err, ErrSpan) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("stream: err %v, want ErrSpan naming %q", err, c.want)
			}
			ra, err := NewReaderAt(func(off, k int64) ([]byte, error) { return b[off : off+k], nil }, int64(len(b)), c.key, c.file)
			if err == nil {
				_, err = ra.Range(0, ra.Size())
			}
			if !errors.Is(err, ErrSpan) {
				t.Fatalf("at random: err %v, want ErrSpan", err)
			}
		})
	}
}

func TestKeyWrapAndIdentities(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	rs, err := ParseRecipients([]string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	key := NewDataKey()
	wrapped, err := WrapKey(key, rs)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, key) {
		t.Fatal("the wrapped key holds the data key")
	}
	if got, err := UnwrapKey(wrapped, []age.Identity{id}); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap: %v", err)
	}
	for name, ids := range map[string][]age.Identity{"wrong identity": {other}, "no identity": nil} {
		if _, err := UnwrapKey(wrapped, ids); !errors.Is(err, ErrNoIdentity) {
			t.Errorf("%s: err %v, want ErrNoIdentity", name, err)
		}
	}
	if _, err := ParseRecipients([]string{id.String()}); err == nil || strings.Contains(err.Error(), id.String()) {
		t.Errorf("a private key given as recipient: err %v (must fail without echoing it)", err)
	}

	dir := t.TempDir()
	plainFile := filepath.Join(dir, "id.txt")
	os.WriteFile(plainFile, []byte("# created: now\n"+id.String()+"\n"), 0o600)
	// a passphrase-protected key file, as `age -p -a` writes it
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	sr, _ := age.NewScryptRecipient("correct horse")
	sr.SetWorkFactor(10)
	w, _ := age.Encrypt(aw, sr)
	w.Write([]byte(id.String() + "\n"))
	w.Close()
	aw.Close()
	protected := filepath.Join(dir, "id.age")
	os.WriteFile(protected, buf.Bytes(), 0o600)

	for _, c := range []struct {
		name, file, pass string
		ok               bool
	}{
		{"a plain identity file", plainFile, "", true},
		{"a protected file with its passphrase", protected, "correct horse", true},
		{"a protected file without a passphrase", protected, "", false},
		{"a protected file with a wrong passphrase", protected, "wrong", false},
		{"a missing file", filepath.Join(dir, "none"), "", false},
	} {
		ids, err := LoadIdentities(c.file, c.pass)
		if c.ok != (err == nil) {
			t.Fatalf("%s: err %v", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-KEY-1") {
			t.Fatalf("%s: the error quotes the key", c.name)
		}
		if c.ok {
			if got, err := UnwrapKey(wrapped, ids); err != nil || !bytes.Equal(got, key) {
				t.Fatalf("%s: unwrap: %v", c.name, err)
			}
		}
	}
}

func TestCatalogMAC(t *testing.T) {
	key := NewDataKey()
	mac, err := CatalogMAC(key, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if !CheckCatalogMAC(key, []byte(`{"a":1}`), mac) {
		t.Fatal("the catalog's own MAC does not check")
	}
	if CheckCatalogMAC(key, []byte(`{"a":2}`), mac) || CheckCatalogMAC(NewDataKey(), []byte(`{"a":1}`), mac) {
		t.Fatal("an altered catalog or another key checks")
	}
}
