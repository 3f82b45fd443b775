// Package pointfiles reads guest files out of a restore point: a disk of
// the point as pointread serves it (the chain applied on the fly, every
// byte checked against the catalog span by span), its partitions and file
// systems as guestfs reads them (MBR, GPT; ext2/3/4, FAT12/16/32). It is
// what vmlua files ls|get and backup.open_point{} share.
//
// A Point opens each disk once (pointread.Open starts indexing its chain
// in the background; a read waits only for the part it needs) and each
// file system once. Paths name a file system by its partition number as
// "2:/etc/motd"; a plain "/etc/motd" is the disk's only readable file
// system, and an error listing them when there are several. A damaged
// span is an error (a *pointread.ReadError under a *guestfs.ReadError),
// never wrong bytes.
package pointfiles
