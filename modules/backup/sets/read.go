package sets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/transports"
)

// maxSmall is the most read of a file that is read whole (a catalog, a
// .vmx, a .nvram).
const maxSmall = 64 << 20

// readSmall reads the file p whole; one over maxSmall bytes is refused
// (capread), not cut.
func readSmall(ctx context.Context, t transports.Transport, p string) ([]byte, error) {
	rc, err := t.Open(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := capread.ReadAll(rc, maxSmall)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

// ReadCatalog reads and parses the catalog file p (a set's catalog.json or
// progress.json).
func ReadCatalog(ctx context.Context, t transports.Transport, p string) (*catalog.Catalog, error) {
	c, _, err := ReadCatalogSum(ctx, t, p)
	return c, err
}

// ReadCatalogSum is ReadCatalog that also returns the sha256 (hex) of the
// catalog's bytes as read: an incremental records its parent's
// (catalog.ParentCatalogSHA256).
func ReadCatalogSum(ctx context.Context, t transports.Transport, p string) (*catalog.Catalog, string, error) {
	b, err := readSmall(ctx, t, p)
	if err != nil {
		return nil, "", err
	}
	c, err := catalog.Parse(b)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return c, hex.EncodeToString(sum[:]), nil
}

// ReadVerified reads a small file of the set cat and checks it against
// the catalog (size, sha256 or span digest); an encrypted file is
// decrypted (SetKey: the run's identity opens the set's key).
func ReadVerified(ctx context.Context, t transports.Transport, cat *catalog.Catalog, f catalog.File) ([]byte, error) {
	var key []byte
	if kr := KeyringOf(ctx); f.Encrypted || kr != nil && kr.Require {
		var err error
		if key, err = SetKey(ctx, t, cat); err != nil {
			return nil, err
		}
	}
	set := cat.ID
	b, err := readSmall(ctx, t, set+"/"+f.Name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	var spans spansum.Digest
	if f.Spans != nil {
		spans, _ = spansum.Read(bytes.NewReader(b))
	}
	if p := storedProblem(f, int64(len(b)), hex.EncodeToString(sum[:]), spans); p != "" {
		return nil, fmt.Errorf("%s does not match the catalog (%s): run backup.verify", f.Name, p)
	}
	if f.Encrypted {
		r, err := decrypting(bytes.NewReader(b), f, key)
		if err == nil {
			b, err = io.ReadAll(r)
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", set, f.Name, err)
		}
	}
	return b, nil
}
