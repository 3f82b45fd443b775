// Package portmap is a minimal ONC RPC portmapper (program 100000,
// version 2, RFC 1833 section 3) for vmlua serve nfs: an ESXi host that
// mounts an NFSv3 datastore asks the portmapper on port 111 of the
// server where the MOUNT service (100005) listens, and only the NFS port
// (2049) is fixed. go-nfs serves MOUNT and NFS on one port and has no
// portmapper, so without this a real host cannot mount the export.
//
// It answers GETPORT and DUMP for the mappings it is given, NULL, and
// refuses SET and UNSET (nothing registers with it). rpcbind's versions
// 3 and 4 are answered PROG_MISMATCH (2..2), on which libtirpc clients
// (rpcinfo, showmount, mount.nfs) fall back to version 2. TCP (record
// marking, RFC 5531 section 11) and UDP are served.
//
// Sources: RFC 1833 (binding protocols), RFC 1813 appendix I (MOUNT
// found through the portmapper), the vSphere Storage guide ("NFS Client
// Firewall Behavior": for NFS 3 ESXi opens all outbound TCP ports to the
// server, since MOUNT's port is learnt from the portmapper).
package portmap
