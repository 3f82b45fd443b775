// Package vmdk reads and rewrites VMDK disk descriptors: the extents a
// descriptor names, and a standalone descriptor for a flat image (one flat
// extent, no parent), as vmkfstools -e produced.
package vmdk
