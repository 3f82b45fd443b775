package sets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// KeyFileName is an encrypted set's wrapped data key.
const KeyFileName = "key.age"

// Keyring is what a run encrypts and decrypts sets with: the recipients
// (age public keys) new sets are encrypted to by default, and the
// identities (private keys) that open encrypted sets, which belong on the
// hosts that restore and verify, not on the backup host. The operator
// gives both (the config's [encryption], --identity); the run carries the
// keyring in its context (WithKeyring), so every reader of sets finds it.
type Keyring struct {
	Recipients []string
	Identities []age.Identity
	// Require refuses sets that are not encrypted (the config's
	// [encryption] require): a target's owner could otherwise replace
	// an encrypted set by a plain one, which reads as an old set.
	Require bool

	mu   sync.Mutex
	keys map[string][]byte // set id + key sha256 -> data key
}

type keyringKey struct{}

// WithKeyring returns ctx carrying k.
func WithKeyring(ctx context.Context, k *Keyring) context.Context {
	return context.WithValue(ctx, keyringKey{}, k)
}

// KeyringOf returns the keyring ctx carries (nil: none).
func KeyringOf(ctx context.Context) *Keyring {
	k, _ := ctx.Value(keyringKey{}).(*Keyring)
	return k
}

// SetKey returns the data key of cat's set: nil for a set that is not
// encrypted. It reads the set's wrapped key, opens it with the run's
// identities and, for a complete set's own catalog (not an alternate one
// an operator gave a restore), checks the catalog's MAC: a
// catalog changed after its backup (also one rewritten with its data)
// fails here, before any of its bytes are trusted.
func SetKey(ctx context.Context, t transports.Transport, cat *catalog.Catalog) ([]byte, error) {
	e := cat.Encryption
	kr := KeyringOf(ctx)
	if e == nil {
		if kr != nil && kr.Require {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Path: cat.ID, Message: fmt.Sprintf("set %s is not encrypted, and the config's [encryption] require = true refuses sets that are not (an old set, or one put in place of an encrypted one)", cat.ID)}
		}
		return nil, nil
	}
	var ids []age.Identity
	if kr != nil {
		ids = kr.Identities
	}
	cacheKey := cat.ID + "\x00" + e.KeySHA256
	var key []byte
	if kr != nil {
		kr.mu.Lock()
		key = kr.keys[cacheKey]
		kr.mu.Unlock()
	}
	if key == nil {
		p := cat.ID + "/" + e.KeyFile
		wrapped, err := readSmall(ctx, t, p)
		if err != nil {
			return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: p, Message: fmt.Sprintf("set %s is encrypted and its wrapped key cannot be read: %v", cat.ID, err), Err: err}
		}
		if sum := sha256.Sum256(wrapped); hex.EncodeToString(sum[:]) != e.KeySHA256 {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Path: p, Message: fmt.Sprintf("set %s: its wrapped key %s differs from the one its catalog names (altered or replaced)", cat.ID, e.KeyFile)}
		}
		key, err = spancrypt.UnwrapKey(wrapped, ids)
		if err != nil {
			code := runtime.CodeAuth
			if len(ids) == 0 {
				code = runtime.CodeConfig
			}
			return nil, &runtime.Error{Code: code, Path: cat.ID, Message: fmt.Sprintf("set %s: %v", cat.ID, err), Err: err}
		}
		if kr != nil {
			kr.mu.Lock()
			if kr.keys == nil {
				kr.keys = map[string][]byte{}
			}
			kr.keys[cacheKey] = key
			kr.mu.Unlock()
		}
	}
	if cat.Complete && !cat.Alternate {
		b, err := cat.MACBytes()
		if err != nil {
			return nil, err
		}
		if !spancrypt.CheckCatalogMAC(key, b, e.MAC) {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Path: cat.ID + "/" + catalog.FileName, Message: fmt.Sprintf("set %s: its catalog fails authentication: it was changed after the backup wrote it (perhaps rewritten together with its data): do not restore it; restore another set", cat.ID)}
		}
	}
	return key, nil
}

// NoIdentity reports whether err is SetKey's for a run without an
// identity that opens the set.
func NoIdentity(err error) bool {
	return errors.Is(err, spancrypt.ErrNoIdentity)
}

// decrypting returns r's decrypted bytes when f is encrypted under key,
// else r itself.
func decrypting(r io.Reader, f catalog.File, key []byte) (io.Reader, error) {
	if !f.Encrypted {
		return r, nil
	}
	if key == nil {
		return nil, fmt.Errorf("%s is encrypted but its set names no key", f.Name)
	}
	return spancrypt.NewReader(r, key, f.Name)
}

// SealKey makes a new set's data key and wraps it to recipients: the
// key, the key file's bytes and the catalog's record of the encryption.
func SealKey(recipients []string) ([]byte, []byte, *catalog.Encryption, error) {
	rs, err := spancrypt.ParseRecipients(recipients)
	if err != nil {
		return nil, nil, nil, err
	}
	key := spancrypt.NewDataKey()
	wrapped, err := spancrypt.WrapKey(key, rs)
	if err != nil {
		return nil, nil, nil, err
	}
	sum := sha256.Sum256(wrapped)
	return key, wrapped, &catalog.Encryption{Scheme: catalog.EncryptionScheme, KeyFile: KeyFileName, KeySHA256: hex.EncodeToString(sum[:]), Recipients: len(rs)}, nil
}

// identities are the identities of the run's keyring (none: nil).
func identities(ctx context.Context) []age.Identity {
	if kr := KeyringOf(ctx); kr != nil {
		return kr.Identities
	}
	return nil
}

// CheckKeys opens the key of cat's set and of every set of its chain
// that is encrypted (SetKey: the identity opens it, the catalog
// authenticates), so that a restore fails before it writes anything. A
// chain that cannot be read is left to the reader that follows.
func CheckKeys(ctx context.Context, t transports.Transport, cat *catalog.Catalog) error {
	chain := []*catalog.Catalog{cat}
	if cat.Incremental() {
		if c, err := ChainOf(ctx, t, cat); err == nil {
			chain = c
		}
	}
	for _, c := range chain {
		if _, err := SetKey(ctx, t, c); err != nil {
			return err
		}
	}
	return nil
}
