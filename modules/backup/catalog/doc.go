// Package catalog is the catalog of a vmlua backup set: the JSON file
// (catalog.json) that describes the VM, its disks and every file of the set
// with its size, sha256 and compression. It is written last and atomically;
// a set without it is incomplete by definition. docs/catalog.md documents
// the schema; Version changes when a field changes meaning or disappears
// (new optional fields do not change it).
package catalog
