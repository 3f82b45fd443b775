package config

import (
	"fmt"
	"os"
)

// Encryption is the [encryption] section: the public keys backups are
// encrypted to, and where the private key that reads them is (on the
// hosts that restore, not on the backup host).
type Encryption struct {
	// Recipients are age public keys (age1...): every backup of a run
	// with this config is encrypted to them unless its script says
	// encrypt=false.
	Recipients []string `toml:"recipients"`
	// Identity is an age identity file (age-keygen's output, or that
	// file encrypted with a passphrase by age -p) that opens encrypted
	// sets for restore, verify, serve, mount and files (--identity).
	Identity string `toml:"identity"`
	// PassphraseEnv / PassphraseFile give a protected identity file's
	// passphrase (default: $VMLUA_IDENTITY_PASSPHRASE).
	PassphraseEnv  string `toml:"passphrase_env"`
	PassphraseFile string `toml:"passphrase_file"`
	// Require refuses sets that are not encrypted (restore, verify,
	// serve, mount, files): once every set is, a plain set on the
	// target was put there by someone else.
	Require bool `toml:"require"`
}

// IdentityFile resolves the identity file and its passphrase: flag (the
// --identity value) over $VMLUA_IDENTITY over the config; "" when none
// is given.
func (c *Config) IdentityFile(flag string, getenv func(string) string) (path, passphrase string, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	path = flag
	if path == "" {
		path = getenv("VMLUA_IDENTITY")
	}
	if path == "" {
		path = c.Encryption.Identity
	}
	if path == "" {
		return "", "", nil
	}
	e := c.Encryption
	switch {
	case e.PassphraseEnv != "" || e.PassphraseFile != "":
		passphrase, err = secret("[encryption] passphrase", "", e.PassphraseEnv, e.PassphraseFile)
		if err != nil {
			return "", "", err
		}
	default:
		passphrase = getenv("VMLUA_IDENTITY_PASSPHRASE")
	}
	if err := checkPrivate(path); err != nil && !os.IsNotExist(err) {
		return "", "", fmt.Errorf("identity file %s is %w: run 'chmod 600 %s'", path, err, path)
	}
	return path, passphrase, nil
}
