// Package nfsserve serves a restore point as an NFSv3 datastore for
// instant recovery (vmlua serve nfs): a host mounts it, registers the VM
// from it and powers it on while its disks are still in the backup set,
// then moves it to production storage with a storage migration.
//
// The export holds one folder, the VM's, with its files as a restore
// would write them (the .vmx with its paths rewritten, the descriptors,
// the flat disks). What is in the set is never written: an Overlay puts
// every change in a scratch folder the operator names. A flat disk is
// copied on write by 64 KiB blocks into a sparse file of the scratch
// folder (a read takes each block from the scratch file once written,
// else from the set); a small file is copied whole into it on its first
// write; a file created or removed is created in it or hidden. The
// protocol is willscott/go-nfs (NFSv3 and MOUNT on one port) over the
// Overlay as a go-billy file system.
package nfsserve
