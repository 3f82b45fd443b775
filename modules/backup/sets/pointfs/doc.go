// Package pointfs mounts restore points as a read-only FUSE file system
// (hanwen/go-fuse), as restic mount does: one folder per VM, in it one
// folder per complete set (named by its timestamp, as vmlua sets list
// shows it, and a "latest" link to the newest), in it every disk of that
// point as a raw image file (pointread.ImageName: DB01_1.img). debugfs,
// mount -o loop,ro, guestfish, 7z or ntfs-3g open the images as they
// would a disk.
//
// The tree is the target's sets when Mount runs (a set made later
// appears after a new mount). Nothing is read from a disk until its
// image is opened: the first open indexes that point's chain
// (pointread.Open, a read of every stored byte of the chain, checked),
// later opens share it. Reads come from pointread, checked span by span,
// through one Cache within Options.CacheBytes for every image; a read of
// a damaged range is EIO, and the log says at which image offset and
// why. SEEK_DATA and SEEK_HOLE find the zero areas (cp --sparse=auto
// keeps them sparse). Unmount ends it; a mount busy with an open file
// stays until it is closed.
package pointfs
