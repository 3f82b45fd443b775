// Package guestfs reads the files of a guest's disk without the guest and
// without mounting anything: the partition table (MBR or GPT) and the
// file systems in it, read-only, from any io.ReaderAt (a restore point's
// disk as pointread serves it, a flat image).
//
// The parsing is the maintained libraries': github.com/diskfs/go-diskfs
// reads the partition tables (partition/gpt, partition/mbr) and the FAT
// file systems (filesystem/fat12, fat16, fat32);
// github.com/masahiro331/go-ext4-filesystem (the ext4 reader trivy scans
// VM images with) reads ext2, ext3 and ext4. This package finds the file
// system of each partition by its magic numbers (it also names NTFS,
// exFAT, XFS, Btrfs, swap and LVM, which it does not read), opens it, and
// gives one small interface over them: List a folder, Stat, Open a file,
// WriteTar a folder or a file.
//
// A read of the disk that fails is never papered over: the libraries are
// handed a reader that keeps the first error of the disk's ReadAt (a
// damaged span of a restore point), and every operation that saw one
// fails with it, even where a library ignored it or read on (go-diskfs
// reads the FAT ignoring errors). So a damaged span is an error naming
// the disk's offset, never wrong bytes in a file or a listing.
//
// A Volume is used by one goroutine at a time (the libraries seek a
// shared reader); it locks itself around each operation.
package guestfs
