package testservers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FTPServer is a vsftpd started by VSFTPD.
type FTPServer struct {
	Host string // 127.0.0.1
	Port int
	User LoginUser
	// DataDir is the login directory (local_root) of User.
	DataDir string
	// TLS: explicit FTPS (AUTH TLS) is required for logins and data.
	TLS bool
	// CAFile is the PEM certificate the server presents (self-signed for
	// 127.0.0.1), to verify it with; "" without TLS.
	CAFile           string
	PasvMin, PasvMax int
	Daemon           *Daemon
}

// VSFTPDOptions adjust VSFTPDWith.
type VSFTPDOptions struct {
	TLS bool
	// Root is the login directory; "" makes a fresh one owned by the user.
	Root string
}

// Addr is host:port.
func (s *FTPServer) Addr() string { return fmt.Sprintf("%s:%d", s.Host, s.Port) }

// URL returns ftp[s]://user@host:port/ — the login directory.
func (s *FTPServer) URL() string {
	scheme := "ftp"
	if s.TLS {
		scheme = "ftps"
	}
	return fmt.Sprintf("%s://%s@%s:%d/", scheme, s.User.Name, s.Host, s.Port)
}

// Kill ends vsftpd and its session processes at once.
func (s *FTPServer) Kill() { killTree(s.Daemon) }

// VSFTPD starts vsftpd on a free port of 127.0.0.1 with a passive port
// range of free ports and a local user (XferUser) whose login directory is
// a fresh data directory; with tls, explicit FTPS with a certificate made
// for this test is required. A missing /usr/sbin/vsftpd fails the test.
func VSFTPD(t testing.TB, tls bool) *FTPServer {
	t.Helper()
	return VSFTPDWith(t, VSFTPDOptions{TLS: tls})
}

// VSFTPDWith is VSFTPD with options.
func VSFTPDWith(t testing.TB, o VSFTPDOptions) *FTPServer {
	t.Helper()
	const bin = "/usr/sbin/vsftpd"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("testservers: VSFTPD needs %s (Debian package vsftpd; bash .ci/install-deps installs it): %v", bin, err)
	}
	u := EnsureXferUser(t)
	dir := Dir(t)
	s := &FTPServer{Host: "127.0.0.1", Port: FreePort(t), User: u, TLS: o.TLS, DataDir: o.Root}
	if s.DataDir == "" {
		s.DataDir = u.DataDir(t)
	}
	// one passive port per transfer in flight: 16 clients storing at
	// once (the lock race of the transports' conformance suite) need 16,
	// and vsftpd dies with "500 OOPS: priv_sock_get_int" when none is free
	s.PasvMin = freePortRange(t, pasvPorts)
	s.PasvMax = s.PasvMin + pasvPorts - 1
	if err := os.MkdirAll("/var/run/vsftpd/empty", 0o755); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	conf := []string{
		"listen=YES",
		"listen_ipv6=NO",
		"listen_address=127.0.0.1",
		"listen_port=" + strconv.Itoa(s.Port),
		"background=NO",
		"anonymous_enable=NO",
		"local_enable=YES",
		"write_enable=YES",
		"local_umask=022",
		"local_root=" + s.DataDir,
		"chroot_local_user=NO",
		"pasv_enable=YES",
		"pasv_address=127.0.0.1",
		"pasv_min_port=" + strconv.Itoa(s.PasvMin),
		"pasv_max_port=" + strconv.Itoa(s.PasvMax),
		"connect_from_port_20=NO",
		"seccomp_sandbox=NO",
		"secure_chroot_dir=/var/run/vsftpd/empty",
		"pam_service_name=vsftpd",
		"userlist_enable=NO",
		"max_clients=0",
		"max_per_ip=0",
		"xferlog_enable=NO",
		"vsftpd_log_file=" + filepath.Join(dir, "vsftpd.log"),
		"idle_session_timeout=600",
		"data_connection_timeout=600",
	}
	if o.TLS {
		cert, key := selfSignedCert(t, dir)
		s.CAFile = cert
		conf = append(conf,
			"ssl_enable=YES",
			"rsa_cert_file="+cert,
			"rsa_private_key_file="+key,
			"allow_anon_ssl=NO",
			"force_local_logins_ssl=YES",
			"force_local_data_ssl=YES",
			"ssl_sslv2=NO",
			"ssl_sslv3=NO",
			"ssl_tlsv1=YES",
			"require_ssl_reuse=NO",
			"ssl_ciphers=HIGH",
		)
	} else {
		conf = append(conf, "ssl_enable=NO")
	}
	cfg := filepath.Join(dir, "vsftpd.conf")
	mustWrite(t, cfg, []byte(strings.Join(conf, "\n")+"\n"), 0o600)
	s.Daemon = Start(t, "vsftpd", bin, cfg)
	t.Cleanup(func() { killTree(s.Daemon) })
	s.Daemon.WaitPort(t, s.Port, 10*time.Second)
	return s
}

// freePortRange returns the first of n consecutive TCP ports of 127.0.0.1
// that were free a moment ago.
// pasvPorts is the size of a server's passive port range.
const pasvPorts = 48

func freePortRange(t testing.TB, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		nb, err := rand.Int(rand.Reader, big.NewInt(20000))
		if err != nil {
			t.Fatalf("testservers: %v", err)
		}
		base := 30000 + int(nb.Int64())
		var ls []net.Listener
		ok := true
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("testservers: no %d consecutive free ports", n)
	return 0
}

// selfSignedCert writes a self-signed certificate for 127.0.0.1/localhost
// and its key (PEM) and returns their paths.
func selfSignedCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vmlua test server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	mustWrite(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	mustWrite(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
