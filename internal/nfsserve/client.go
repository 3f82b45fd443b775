package nfsserve

import (
	"fmt"
	"net"
	"strconv"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
)

// Dial mounts export of the NFSv3 server at addr (host:port) whose MOUNT
// service is on the NFS port, as go-nfs serves them (no portmapper):
// the client side of an instant-recovery datastore, for the simulator's
// NAS datastores and tests. close unmounts and disconnects.
func Dial(addr, export string) (t *nfsc.Target, close func(), err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, nil, fmt.Errorf("port %q: %w", ps, err)
	}
	c, err := nfsc.DialServiceAtPort(host, port)
	if err != nil {
		return nil, nil, fmt.Errorf("nfs %s: %w", addr, err)
	}
	m := &nfsc.Mount{Client: c}
	t, err = m.Mount(export, rpc.AuthNull)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("nfs %s: mount %s: %w", addr, export, err)
	}
	return t, func() { m.Unmount(); c.Close() }, nil
}
