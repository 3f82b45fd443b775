// Package vmxfmt spells vSphere API values the way ESXi writes them in a
// .vmx file (ethernet0.virtualDev = "vmxnet3", guestOS = "otherlinux-64",
// uuid.bios = "42 1c ... 4e", scsi0:1.mode = "independent-persistent"),
// and reads them back. It is the one source of these spellings: the vm
// module answers get_config with it, and the simulator (internal/vsim)
// writes its .vmx files and registers VMs from them with it, so the two
// cannot drift apart.
package vmxfmt
