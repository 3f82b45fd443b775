// Package spancrypt encrypts the files of a backup set span by span, and
// wraps the set's data key to its recipients.
//
// A file is a 48-byte header (the magic "vmlua-spancrypt1" and a random
// 32-byte salt) followed by spans: each SpanSize bytes of plaintext (the
// last one may be shorter, and is empty only for an empty file) sealed
// with AES-256-GCM into SpanSize+16 bytes. The file's key is derived from
// the set's data key, the salt and the file's name (HKDF-SHA256), so no
// two files, not even two writes of the same name, share a key; a span's
// nonce is its index, and its associated data its index and whether it is
// the last span. A span moved, swapped, dropped or altered, a file cut
// after a span or renamed, or a key of another set fails authentication
// with an error that names the span (ErrSpan). Spans are independent:
// a reader at random (ReaderAt) decrypts only the spans it needs, as
// pcomp's frames are decoded only where read.
//
// The data key (32 random bytes per set) is stored in the set only
// wrapped with age (filippo.io/age) to the set's recipients (WrapKey,
// UnwrapKey): the host that writes a set needs only their public keys.
// CatalogMAC authenticates a set's catalog with a key derived from the
// data key.
package spancrypt
