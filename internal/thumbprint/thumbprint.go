package thumbprint

import (
	"crypto/sha1" // #nosec G505 -- govc's and vSphere's SHA-1 thumbprint form, pinned by the user
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
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
