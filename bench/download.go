package main

import (
	"context"
	"net/url"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/soap"
)

// finder logs in to the simulator at rawURL and returns a finder on its
// default datacenter, and the logout to defer.
func finder(ctx context.Context, rawURL string) (*find.Finder, func(), error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return nil, nil, err
	}
	logout := func() { c.Logout(ctx) }
	f := find.NewFinder(c.Client)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		logout()
		return nil, nil, err
	}
	f.SetDatacenter(dc)
	return f, logout, nil
}

// downloadFile is the govc baseline when govc cannot be built: the call
// govc datastore.download makes, object.Datastore.DownloadFile.
func downloadFile(ctx context.Context, rawURL, dsName, path, dst string) error {
	f, logout, err := finder(ctx, rawURL)
	if err != nil {
		return err
	}
	defer logout()
	ds, err := f.Datastore(ctx, dsName)
	if err != nil {
		return err
	}
	return ds.DownloadFile(ctx, path, dst, &soap.DefaultDownload)
}

// powerOff powers a simulated VM off, so that a plain datastore download
// (govc's baseline) may read its disk: the hard simulator, as ESXi, locks
// the disk a running VM writes.
func powerOff(ctx context.Context, rawURL, vmName string) error {
	f, logout, err := finder(ctx, rawURL)
	if err != nil {
		return err
	}
	defer logout()
	vm, err := f.VirtualMachine(ctx, vmName)
	if err != nil {
		return err
	}
	task, err := vm.PowerOff(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}
