// Package capread reads a small file whole: ReadAll reads at most a cap of
// bytes and refuses a reader holding more (ErrTooLarge) instead of cutting
// it short, as io.LimitReader alone would. A cut descriptor, catalog or
// configuration file is worse than none: it parses, and says less than the
// file did.
package capread
