// Package host is the Lua module "host": the ESXi hosts of the
// connection (list, find, maintenance mode), their configuration as a
// plain table (config_summary), and the configuration bundle backup and
// restore that `vim-cmd hostsvc/firmware/backup_config` and
// `restore_config` do, on the vSphere API (HostFirmwareSystem): the bundle
// is downloaded over the session into any transport, atomically, with a
// sidecar recording its sha256 and the host's version, build and uuid; a
// restore checks maintenance mode, the build and the sha256 before it
// uploads anything.
//
// The connection is the vm module's (vm.RunConn): same profile, same
// session.
package host
