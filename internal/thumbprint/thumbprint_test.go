package thumbprint

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- the form under test
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCert(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vc"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func TestEveryPrintedFormPinsTheCertificateAndIsRenderedBackTheSameWay(t *testing.T) {
	c := testCert(t)
	s256 := sha256.Sum256(c.Raw)
	s1 := sha1.Sum(c.Raw) // #nosec G401
	b64 := "SHA256:" + base64.RawStdEncoding.EncodeToString(s256[:])
	cases := []struct {
		name, given, rendered string
	}{
		{"bare upper-case SHA-256 hex", strings.ToUpper(hex.EncodeToString(s256[:])), strings.ToUpper(hex.EncodeToString(s256[:]))},
		{"bare lower-case SHA-256 hex", hex.EncodeToString(s256[:]), strings.ToUpper(hex.EncodeToString(s256[:]))},
		{"colon SHA-256 hex as openssl prints it", strings.ToUpper(colonHex(s256[:])), strings.ToUpper(colonHex(s256[:]))},
		{"SHA256: and base64 as OpenSSH prints it", b64, b64},
		{"sha256: prefix in lower case", "sha256:" + b64[7:], b64},
		{"SHA256: and padded base64", b64 + "=", b64},
		{"SHA256: followed by colon hex", "SHA256:" + colonHex(s256[:]), strings.ToUpper(colonHex(s256[:]))},
		{"govc's colon SHA-1", strings.ToUpper(colonHex(s1[:])), strings.ToUpper(colonHex(s1[:]))},
		{"govc's colon SHA-1 in lower case", colonHex(s1[:]), strings.ToUpper(colonHex(s1[:]))},
		{"bare SHA-1 hex", hex.EncodeToString(s1[:]), strings.ToUpper(hex.EncodeToString(s1[:]))},
		{"surrounding spaces", "  " + b64 + "\n", b64},
	}
	other := testCert(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.given)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.given, err)
			}
			if !p.Matches(c) {
				t.Errorf("Parse(%q) does not match the certificate", tc.given)
			}
			if p.Matches(other) {
				t.Errorf("Parse(%q) matches another certificate", tc.given)
			}
			if got := p.Format(c); got != tc.rendered {
				t.Errorf("Format = %q, want %q", got, tc.rendered)
			}
		})
	}
}

func TestWhatIsNoFingerprintIsRefusedWithTheFormsThatWork(t *testing.T) {
	for _, given := range []string{"", "SHA256:...", "SHA256:", "AA:BB", "xyz", "AB:CD:EF:0", "SHA256:" + base64.RawStdEncoding.EncodeToString([]byte("short"))} {
		_, err := Parse(given)
		if err == nil || !strings.Contains(err.Error(), "govc about.cert -thumbprint") {
			t.Errorf("Parse(%q) = %v, want an error listing the accepted forms", given, err)
		}
	}
}

func TestVerifyConnectionAcceptsThePinnedCertificateOnly(t *testing.T) {
	cert, other := testCert(t), testCert(t)
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw) // #nosec G401 -- the form under test
	cases := []struct {
		name  string
		pin   string
		certs []*x509.Certificate
		ok    bool
	}{
		{"pinned by SHA-256", hex.EncodeToString(s256[:]), []*x509.Certificate{cert}, true},
		{"pinned by SHA-1", colonHex(s1[:]), []*x509.Certificate{cert}, true},
		{"another self-signed certificate", hex.EncodeToString(s256[:]), []*x509.Certificate{other}, false},
		{"the pinned one behind another leaf", hex.EncodeToString(s256[:]), []*x509.Certificate{other, cert}, false},
		{"no certificate", hex.EncodeToString(s256[:]), nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pin)
			if err != nil {
				t.Fatal(err)
			}
			err = p.VerifyConnection(tls.ConnectionState{ServerName: "vc", PeerCertificates: tc.certs})
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrMismatch) {
				t.Errorf("error %v, want ErrMismatch", err)
			}
		})
	}
}
