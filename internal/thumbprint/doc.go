// Package thumbprint parses the certificate fingerprints a user pins a
// vSphere server with, in the three forms the tools around it print: bare
// or colon-separated hex of the SHA-256 (openssl x509 -fingerprint -sha256),
// "SHA256:" and unpadded base64 (OpenSSH, govc), and govc's colon-separated
// SHA-1 (govc about.cert -thumbprint, `vmlua sim`). Hex is read
// case-insensitively. A Pin renders any certificate's fingerprint in the
// form it was given, so a mismatch can show the server's in the user's
// terms.
package thumbprint
