// Package vm is the Lua module "vm": VM look-ups (by .vmx path or by
// vcbVmName-style specifiers), the VMX-key view of a VM's configuration,
// power operations, and the ESX hot-backup cycle in VmPerl's terms —
// add_redo (a snapshot), export (stream the frozen disk to a transport) and
// commit (remove a snapshot, merging its delta) — with the guarantee that
// every REDO a run adds is committed when the run ends, however it ends.
//
// The connection comes from the operator (--url, VMLUA_* variables or a
// config profile), never from the script. It is opened on first use, kept
// alive, re-established after a dropped session, and logged out at the end.
package vm
