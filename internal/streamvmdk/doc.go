// Package streamvmdk writes and reads streamOptimized VMDK, the format an
// NFC export lease (ExportVm, ExportSnapshot) serves disks in and
// ImportVApp takes: a sparse extent whose grains are compressed (zlib),
// each behind a marker naming its sector, written in one pass with the
// grain tables, the grain directory and a footer (a copy of the header
// that says where the directory is) at the end, then an end-of-stream
// marker. All-zero grains are left out, which is what keeps an export of a
// thin disk small.
//
// Sources: VMware's "Virtual Disk Format 5.0" technical note (the sparse
// extent header, markers, streamOptimized), open-vmdk's vmware_vmdk.h (the
// constants govmomi's vmdk package copies), and qemu's block/vmdk.c
// (vmdk_open_vmdk4 reads the footer at 1536 bytes from the end when the
// header's grain directory offset is GD_AT_END; vmdk_read_extent inflates a
// grain after its 12-byte marker).
//
// Writer streams (it needs no Seek and holds 4 bytes per grain of the disk
// for the grain tables), compressing 2×GOMAXPROCS grains at once and
// writing them in order; Reader reads a stream in one pass and yields the
// disk's flat image, holes as zeros, or each grain with its offset (Next),
// so that a consumer can skip what was never written.
package streamvmdk
