// Package datastore finds vSphere datastores by name and reads datastore
// paths, in one place for the vm module, the backup module and the vmfs://
// transport:
//
//   - Split parses vSphere's "[datastore] folder/file" paths.
//   - Finder finds a datastore by name among some (a VM's datastores) or
//     all of the inventory, remembering names and inventory paths, so a
//     backup asks once per datastore, not once per file.
//   - InDatacenters finds one by name with the datacenter it is in (the
//     FileManager and VirtualDiskManager want both), optionally in one
//     named datacenter.
//
// Every datastore returned has its inventory path set: the datastore's
// /folder HTTP URLs need it.
package datastore
