package vsim

import (
	"os"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// browserWrapper is a host's HostDatastoreBrowser whose searches survive a
// file that vanishes while they list its folder, as ESXi's do: vcsim's
// search (host_datastore_browser.go) reads a folder, then each entry's
// attributes, and dereferences a nil FileInfo — a panic in its task
// goroutine, which ends the whole process — when the entry was renamed or
// removed in between. Clients that share a folder do that all the time: an
// upload ends with the rename of its temporary file, a Stat is a search,
// and a backup lock is created and removed next to both. This search skips
// such an entry. It is vcsim's otherwise (the same queries, details and
// result shapes); vSAN and vVols datastores, whose folder names vcsim maps
// to UUIDs of its own, keep vcsim's search.
type browserWrapper struct {
	*simulator.HostDatastoreBrowser
	s *Sim
}

func (b *browserWrapper) SearchDatastoreTask(ctx *simulator.Context, req *types.SearchDatastore_Task) soap.HasFault {
	if b.vsan(ctx, req.DatastorePath) {
		return b.HostDatastoreBrowser.SearchDatastoreTask(ctx, req)
	}
	ref := b.s.runTask(ctx, b.HostDatastoreBrowser, "searchDatastore", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		res, f := b.search(tctx, req.DatastorePath, req.SearchSpec, false)
		if f != nil {
			return nil, f
		}
		return res[0], nil
	})
	return &methods.SearchDatastore_TaskBody{Res: &types.SearchDatastore_TaskResponse{Returnval: ref}}
}

func (b *browserWrapper) SearchDatastoreSubFoldersTask(ctx *simulator.Context, req *types.SearchDatastoreSubFolders_Task) soap.HasFault {
	if b.vsan(ctx, req.DatastorePath) {
		return b.HostDatastoreBrowser.SearchDatastoreSubFoldersTask(ctx, req)
	}
	ref := b.s.runTask(ctx, b.HostDatastoreBrowser, "searchDatastoreSubFolders", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		res, f := b.search(tctx, req.DatastorePath, req.SearchSpec, true)
		if f != nil {
			return nil, f
		}
		return types.ArrayOfHostDatastoreBrowserSearchResults{HostDatastoreBrowserSearchResults: res}, nil
	})
	return &methods.SearchDatastoreSubFolders_TaskBody{Res: &types.SearchDatastoreSubFolders_TaskResponse{Returnval: ref}}
}

// datastore finds the browser's datastore a "[name] path" names.
func (b *browserWrapper) datastore(ctx *simulator.Context, dsPath string) (*simulator.Datastore, object.DatastorePath, types.BaseMethodFault) {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return nil, p, &types.InvalidDatastorePath{DatastorePath: dsPath}
	}
	for _, ref := range b.Datastore {
		if ds, ok := ctx.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == p.Datastore {
			return ds, p, nil
		}
	}
	return nil, p, &types.InvalidDatastore{Name: p.Datastore}
}

// vsan reports whether dsPath is on a vSAN or vVols datastore.
func (b *browserWrapper) vsan(ctx *simulator.Context, dsPath string) bool {
	ds, _, f := b.datastore(ctx, dsPath)
	if f != nil {
		return false
	}
	t := ds.Summary.Type
	return t == string(types.HostFileSystemVolumeFileSystemTypeVsan) || t == string(types.HostFileSystemVolumeFileSystemTypeVVOL)
}

func (b *browserWrapper) search(ctx *simulator.Context, dsPath string, spec *types.HostDatastoreBrowserSearchSpec, recurse bool) ([]types.HostDatastoreBrowserSearchResults, types.BaseMethodFault) {
	ds, p, f := b.datastore(ctx, dsPath)
	if f != nil {
		return nil, f
	}
	if spec == nil {
		spec = &types.HostDatastoreBrowserSearchSpec{}
	}
	var out []types.HostDatastoreBrowserSearchResults
	if err := searchFolder(ds, spec, dsPath, path.Join(ds.Summary.Url, p.Path), recurse, &out); err != nil {
		if os.IsNotExist(err) {
			return nil, &types.FileNotFound{FileFault: types.FileFault{File: p.Path}}
		}
		return nil, &types.InvalidArgument{InvalidProperty: p.Path}
	}
	return out, nil
}

// searchFolder lists dir (folder in the datastore's terms) into out, and
// its sub-folders when recurse.
func searchFolder(ds *simulator.Datastore, spec *types.HostDatastoreBrowserSearchSpec, folder, dir string, recurse bool, out *[]types.HostDatastoreBrowserSearchResults) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	res := types.HostDatastoreBrowserSearchResults{Datastore: &ds.Self, FolderPath: folder}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // renamed or removed since the folder was read
		}
		if queryMatch(spec, info) {
			for _, m := range spec.MatchPattern {
				if ok, _ := path.Match(m, info.Name()); ok {
					res.File = append(res.File, fileInfo(spec, info))
					break
				}
			}
		}
		if recurse && info.IsDir() {
			_ = searchFolder(ds, spec, path.Join(folder, info.Name()), path.Join(dir, info.Name()), true, out)
		}
	}
	*out = append(*out, res)
	return nil
}

// queryMatch is vcsim's: whether file answers one of the spec's queries.
func queryMatch(spec *types.HostDatastoreBrowserSearchSpec, file os.FileInfo) bool {
	if len(spec.Query) == 0 {
		return true
	}
	name := file.Name()
	ext := path.Ext(name)
	for _, q := range spec.Query {
		switch q.(type) {
		case *types.FileQuery:
			return true
		case *types.FolderFileQuery:
			if file.IsDir() {
				return true
			}
		case *types.FloppyImageFileQuery:
			if ext == ".img" {
				return true
			}
		case *types.IsoImageFileQuery:
			if ext == ".iso" {
				return true
			}
		case *types.VmConfigFileQuery:
			if ext == ".vmx" {
				return true
			}
		case *types.VmDiskFileQuery:
			if ext == ".vmdk" {
				return !strings.HasSuffix(name, "-flat.vmdk")
			}
		case *types.VmLogFileQuery:
			if ext == ".log" {
				return strings.HasPrefix(name, "vmware")
			}
		case *types.VmNvramFileQuery:
			if ext == ".nvram" {
				return true
			}
		case *types.VmSnapshotFileQuery:
			if ext == ".vmsn" {
				return true
			}
		}
	}
	return false
}

// fileInfo is vcsim's addFile: the result entry for file, with the details
// the spec asks for.
func fileInfo(spec *types.HostDatastoreBrowserSearchSpec, file os.FileInfo) types.BaseFileInfo {
	details := spec.Details
	if details == nil {
		details = new(types.FileQueryFlags)
	}
	name := file.Name()
	info := types.FileInfo{Path: name}
	if details.FileSize {
		info.FileSize = file.Size()
	}
	if details.Modification {
		mtime := file.ModTime()
		info.Modification = &mtime
	}
	if details.FileOwner {
		info.Owner = os.Getenv("USER") // vcsim's assumption: this process made every file
	}
	if file.IsDir() {
		return &types.FolderFileInfo{FileInfo: info}
	}
	if details.FileType {
		switch path.Ext(name) {
		case ".img":
			return &types.FloppyImageFileInfo{FileInfo: info}
		case ".iso":
			return &types.IsoImageFileInfo{FileInfo: info}
		case ".log":
			return &types.VmLogFileInfo{FileInfo: info}
		case ".nvram":
			return &types.VmNvramFileInfo{FileInfo: info}
		case ".vmdk":
			return &types.VmDiskFileInfo{FileInfo: info}
		case ".vmx":
			return &types.VmConfigFileInfo{FileInfo: info}
		}
	}
	return &info
}
