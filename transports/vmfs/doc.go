// Package vmfs is the vmfs:// transport: a folder on a datastore of the
// vSphere (vCenter or ESXi) the run is connected to.
//
// URL forms:
//
//	vmfs://datastore/path/inside         host form (percent-escapes in the path)
//	vmfs://[datastore] path/inside       vSphere's datastore-path syntax
//
// The bracketed form is the only one that can name a datastore with spaces;
// Go's url.Parse refuses it ("[" opens an IPv6 literal), so ParseURL reads
// it from the raw string. transports.Open parses URLs with url.Parse before
// a scheme sees them, so until the registry hands raw vmfs strings to
// ParseURL, scripts reach the bracketed form only through vmfs.New;
// runtime grants accept both forms.
//
// Options (Options.Params, or the URL's query as in ?create=false):
// datacenter (which datacenter's datastore of that name), create (default
// true: create the URL's folder).
//
// No credentials: the transport uses the run's vSphere session, given by
// the vm module in Options.Env["vsphere"] (*vim25.Client); without one, Open
// fails with ErrNoVSphere ("open a VM first or give --url").
//
// How each operation maps onto vSphere:
//   - Create: one streaming PUT on the datastore's /folder URL (with a
//     service ticket on vCenter), body through an io.Pipe, chunked since the
//     length is unknown; memory is constant. Abort ends the PUT and deletes
//     the file (FileManager.DeleteDatastoreFile), so a cancelled upload
//     leaves nothing; transports.Upload adds the temporary name and rename.
//   - Open: GET on /folder with "Range: bytes=offset-" (a server that
//     ignores Range is handled by skipping).
//   - Stat, List: HostDatastoreBrowser.SearchDatastore.
//   - MkdirAll: FileManager.MakeDirectory(createParentDirectories).
//   - Rename: FileManager.MoveDatastoreFile(force=true), which replaces.
//   - Remove: FileManager.DeleteDatastoreFile, after checking that a folder
//     is empty (the API deletes folders recursively).
//
// Paths are relative to the URL's folder and cannot leave it
// (transports.CleanPath). Temporary names do not end in ".vmdk", so the
// host treats them as plain files.
//
// Server-side copy: *Transport implements transports.ServerCopier
// (copy.go), which v:export uses when the destination is on the same vSphere: a
// CopyVirtualDisk on the server instead of streaming the disk through
// vmlua (the book's `vmkfstools -e target -d vmfs source`).
//
// Exclusive create (transports.ExclusiveCreator, the backup lock): a guard
// folder made with FileManager.MakeDirectory without its parents, which
// fails with FileAlreadyExists when anything is there (mkdir on the host)
// (transports.CreateExclusiveGuarded). MoveDatastoreFile without force is
// not used: the API does not say it is atomic, and vcsim checks, then
// renames.
package vmfs
