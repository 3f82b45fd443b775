package spancrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// ParseRecipients parses age recipients ("age1..."), one per string;
// the error names the one that is not.
func ParseRecipients(ss []string) ([]age.Recipient, error) {
	if len(ss) == 0 {
		return nil, errors.New("no recipient: give at least one age public key (age1...)")
	}
	var out []age.Recipient
	for i, s := range ss {
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(rs) != 1 {
			return nil, fmt.Errorf("recipient %d (%q) is not an age public key (age1..., as age-keygen prints it): %v", i+1, short(s), err)
		}
		out = append(out, rs[0])
	}
	return out, nil
}

// short keeps an error from echoing a long string (a private key given
// by mistake is cut to its kind).
func short(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY") {
		return "AGE-SECRET-KEY-… (a private key: give its public key, age-keygen -y)"
	}
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// WrapKey encrypts a data key to the recipients (an armored age file).
func WrapKey(dataKey []byte, recipients []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recipients...)
	if err != nil {
		return nil, fmt.Errorf("wrap the set's data key: %v", err)
	}
	if _, err := w.Write(dataKey); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrNoIdentity is wrapped when none of the identities opens a key.
var ErrNoIdentity = errors.New("no identity given opens the set's key")

// UnwrapKey decrypts a wrapped data key with the identities.
func UnwrapKey(wrapped []byte, ids []age.Identity) ([]byte, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: the set is encrypted; give the private key of one of its recipients (--identity FILE, or identity in the config's [encryption])", ErrNoIdentity)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(wrapped)), ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("%w: the set was encrypted to other recipients (wrong identity file?)", ErrNoIdentity)
		}
		return nil, fmt.Errorf("the set's wrapped key cannot be opened (damaged?): %v", err)
	}
	k, err := io.ReadAll(io.LimitReader(r, KeySize+1))
	if err != nil {
		return nil, fmt.Errorf("the set's wrapped key cannot be opened (damaged?): %v", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("the set's wrapped key holds %d bytes, not a %d-byte data key", len(k), KeySize)
	}
	return k, nil
}

// LoadIdentities reads an age identity file (age-keygen's output, lines
// AGE-SECRET-KEY-1...). A file that is itself age-encrypted with a
// passphrase (age -p, armored or not) is opened with passphrase; an
// empty passphrase then is an error that says so.
func LoadIdentities(path, passphrase string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	var src io.Reader = bytes.NewReader(b)
	switch {
	case bytes.HasPrefix(b, []byte(armor.Header)):
		src = armor.NewReader(src)
		fallthrough
	case bytes.HasPrefix(b, []byte("age-encryption.org/")):
		if passphrase == "" {
			return nil, fmt.Errorf("identity file %s is passphrase-protected: set VMLUA_IDENTITY_PASSPHRASE (or passphrase_env/passphrase_file in the config's [encryption])", path)
		}
		id, err := age.NewScryptIdentity(passphrase)
		if err != nil {
			return nil, err
		}
		r, err := age.Decrypt(src, id)
		if err != nil {
			return nil, fmt.Errorf("identity file %s cannot be opened with the passphrase given (wrong passphrase?)", path)
		}
		if b, err = io.ReadAll(io.LimitReader(r, 1<<20)); err != nil {
			return nil, fmt.Errorf("identity file %s: %v", path, err)
		}
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("identity file %s holds no age private key (AGE-SECRET-KEY-1..., from age-keygen): %v", path, redactErr(err))
	}
	return ids, nil
}

// redactErr keeps a parse error's message from quoting a key line.
func redactErr(err error) string {
	s := err.Error()
	if strings.Contains(strings.ToUpper(s), "AGE-SECRET-KEY") {
		return "a line is not a valid key"
	}
	return s
}
