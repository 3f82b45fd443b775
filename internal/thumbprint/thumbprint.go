package thumbprint

import (
	"crypto/sha1" // #nosec G505 -- govc's and vSphere's SHA-1 thumbprint form, pinned by the user
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Form is the way a fingerprint is written.
type Form int

const (
	HexSHA256    Form = iota // 64 hex digits, bare or AB:CD:…
	Base64SHA256             // SHA256:base64 (OpenSSH, govc)
	HexSHA1                  // 40 hex digits, bare or AB:CD:… (govc about.cert -thumbprint)
)

// Pin is a parsed fingerprint.
type Pin struct {
	Form   Form
	Colons bool   // hex written with colons between bytes
	Sum    []byte // the digest of the certificate's DER bytes
}

// Usage says which forms Parse accepts, for error messages.
const Usage = `want the SHA-256 as 64 hex digits (AB:CD:… or bare), "SHA256:" and base64 as OpenSSH and govc print it, or the SHA-1 as 40 hex digits AB:CD:… as govc about.cert -thumbprint prints it`

// Parse reads a fingerprint in any of the accepted forms.
func Parse(s string) (Pin, error) {
	t := strings.TrimSpace(s)
	if len(t) > 7 && strings.EqualFold(t[:7], "sha256:") {
		b64 := strings.TrimRight(t[7:], "=")
		sum, err := base64.RawStdEncoding.DecodeString(b64)
		if err != nil || len(sum) != sha256.Size {
			if hexSum, ok := parseHex(t[7:]); ok && len(hexSum) == sha256.Size {
				return Pin{Form: HexSHA256, Colons: strings.Contains(t[7:], ":"), Sum: hexSum}, nil
			}
			return Pin{}, fmt.Errorf("thumbprint %q: the part after SHA256: is not the base64 of a SHA-256; %s", s, Usage)
		}
		return Pin{Form: Base64SHA256, Sum: sum}, nil
	}
	sum, ok := parseHex(t)
	switch {
	case ok && len(sum) == sha256.Size:
		return Pin{Form: HexSHA256, Colons: strings.Contains(t, ":"), Sum: sum}, nil
	case ok && len(sum) == sha1.Size:
		return Pin{Form: HexSHA1, Colons: strings.Contains(t, ":"), Sum: sum}, nil
	case ok:
		return Pin{}, fmt.Errorf("thumbprint %q has %d bytes, not 32 (SHA-256) or 20 (SHA-1); %s", s, len(sum), Usage)
	}
	return Pin{}, fmt.Errorf("thumbprint %q is not a certificate fingerprint; %s", s, Usage)
}

// parseHex reads hex digits, with or without a colon between every byte.
func parseHex(s string) ([]byte, bool) {
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		for _, p := range parts {
			if len(p) != 2 {
				return nil, false
			}
		}
		s = strings.Join(parts, "")
	}
	b, err := hex.DecodeString(s)
	return b, err == nil && len(b) > 0
}

// Of returns the certificate's fingerprint in form f (with colons when
// colons is set and the form is hex).
func Of(cert *x509.Certificate, f Form, colons bool) string {
	switch f {
	case Base64SHA256:
		sum := sha256.Sum256(cert.Raw)
		return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	case HexSHA1:
		sum := sha1.Sum(cert.Raw) // #nosec G401 -- see the import
		return hexString(sum[:], colons)
	default:
		sum := sha256.Sum256(cert.Raw)
		return hexString(sum[:], colons)
	}
}

func hexString(b []byte, colons bool) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	if !colons {
		return h
	}
	parts := make([]string, len(b))
	for i := range b {
		parts[i] = h[2*i : 2*i+2]
	}
	return strings.Join(parts, ":")
}

// Matches reports whether cert is the pinned certificate.
func (p Pin) Matches(cert *x509.Certificate) bool {
	return p.Govmomi() == Of(cert, p.hexForm(), true)
}

// Govmomi is the pin in the form govmomi's soap.Client.SetThumbprint
// compares: colon-separated upper-case hex of the SHA-1 or SHA-256.
func (p Pin) Govmomi() string { return hexString(p.Sum, true) }

// Format renders cert's fingerprint in the pin's own form.
func (p Pin) Format(cert *x509.Certificate) string { return Of(cert, p.Form, p.Colons) }

func (p Pin) hexForm() Form {
	if p.Form == HexSHA1 {
		return HexSHA1
	}
	return HexSHA256
}

// ErrMismatch is the error of a handshake whose server certificate is
// neither the pinned one nor verified by a trusted authority. Its text
// holds govmomi's "thumbprint does not match", which callers test for.
var ErrMismatch = errors.New("the server's certificate thumbprint does not match the pinned one")

// VerifyConnection is a tls.Config.VerifyConnection (with
// InsecureSkipVerify set) that accepts what govmomi's pinned client
// accepts, in one handshake: a certificate chain that a trusted authority
// verifies for the server name, or the pinned certificate. govmomi's
// client tries a verifying handshake and, when it fails, a second one to
// compare the pin; this check needs one, and as it is called again on a
// resumed TLS session (with the certificates of the session's first
// handshake), the pinned connections of a session can resume it.
func (p Pin) VerifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the server sent no certificate", ErrMismatch)
	}
	leaf := cs.PeerCertificates[0]
	if p.Matches(leaf) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: inter}); err == nil {
		return nil
	}
	return ErrMismatch
}
