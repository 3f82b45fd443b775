// Package spansum digests a byte stream per fixed span, in parallel: the
// SHA-256 of every Size-byte span (the last one may be shorter) and a root,
// the SHA-256 of the span digests' 32-byte values one after the other.
//
// One whole-stream SHA-256 runs on one core (~1.9 GB/s here); span digests
// of consecutive spans are computed at once, on as many cores as there are
// spans in flight, and a mismatch names the span, so a verify says at
// which offset a file was altered. By hand:
//
//	split -b 4194304 -d FILE span. && for f in span.*; do sha256sum < $f | cut -c1-64; done | xxd -r -p | sha256sum
//
// prints the root.
package spansum
