// Package vsim is vmlua's embedded vSphere: govmomi's simulator (vcsim)
// extended to behave like ESXi where the hot-backup cycle depends on it.
//
//   - Disks with content: each disk is a real sparse flat file on a datastore
//     folder, filled with deterministic bytes (content.go), about one 64 KiB
//     block in four left as a hole.
//
//   - A running guest: a powered-on VM keeps writing (deterministic writes,
//     configurable rate, pausable) to the top of each disk's chain, and logs
//     every write; ExpectedContent recomputes from seeds and log alone what a
//     disk held after any write, which is the oracle tests compare with.
//
//   - Snapshots are REDO logs: CreateSnapshot adds a delta per non-independent
//     disk (NAME-00000N.vmdk descriptor + NAME-00000N-delta.vmdk data in
//     VMFSSPARSE, or NAME-00000N-sesparse.vmdk in SESPARSE, as ESXi writes
//     them and qemu-img reads them; delta_format.go), switches the backing to it
//     with Parent set, and the parent is frozen. RemoveSnapshot (any of the
//     chain) and RemoveAllSnapshots consolidate by merging; layoutEx, the
//     snapshot tree and the .vmx follow. A merge that fails leaves the content
//     intact and runtime.consolidationNeeded set, for ConsolidateVMDisks.
//
//   - Questions (runtime.question, AnswerVM); CreateSnapshot beyond MaxRedo
//     asks, then fails with TooManySnapshotLevels; beyond ESXi 8's 32 levels
//     it fails at once. VMs may be built with a snapshot tree of their own
//     (VMSpec.Snapshots), listed in a real .vmsd (snapshot_tree.go); a VM
//     registered with its deltas gets its chains and its tree back
//     (register_chain.go).
//
//   - Datastores of four types, VMFS, NFS, vSAN and vVols
//     (datastore_types.go); Options.Fleet adds a VM on each and SNAP01 with
//     a three-level snapshot tree (fleet.go). A powered-off VM with CBT
//     carries a changeId on its live disks (cbt_live.go).
//
//   - ExportVm (powered off only) and ExportSnapshot leases serve the disks as
//     streamOptimized VMDK; ImportVApp takes streamOptimized disks and writes
//     them thin; a lease without HttpNfcLeaseProgress times out
//     (nfc_lease.go). /folder GET of a delta data file serves the file as it is.
//
//   - Real .vmx files, RegisterVM_Task from them; CBT (ChangeId,
//     QueryChangedDiskAreas from the write log); in-task faults; DropSessions.
//
//   - ESXi hosts (host*.go, bundle.go): every host (the ESX model's one, the
//     vCenter model's four) has its own build, uuid, NTP and DNS servers,
//     syslog host, vSwitches and advanced settings, and a HostFirmwareSystem:
//     BackupFirmwareConfiguration returns http://*/downloads/<id>/configBundle-<host>.tgz,
//     a real gzip'd tar (Manifest.txt, etc/ntp.conf, etc/resolv.conf,
//     etc/vmware/esx.conf) served at the host's own address (host_bundles.go);
//     QueryFirmwareConfigUploadURL gives the URL to PUT a bundle to;
//     RestoreFirmwareConfiguration raises InvalidState (not in maintenance
//     mode), FileNotFound (nothing uploaded), InvalidBundle (corrupt,
//     truncated, no manifest) and MismatchedBundle (other uuid or build,
//     unless force), else replaces the configuration and sets
//     runtime.bootTime (the reboot). HostDateTimeSystem (UpdateDateTimeConfig)
//     and the network system's UpdateDnsConfig and vSwitch/port group methods
//     change config.dateTimeInfo and config.network, which the network
//     system's networkInfo is. Test controls: InjectDownloadFault (the
//     bundle GET cut after N bytes), SetHostBuild (a patched host),
//     UploadedBundle, Hosts.
//
//   - As hard as ESXi and vCenter, on by default (docs/simulator.md), each
//     in a file of its own with its source: /folder needs a login
//     (folder_auth.go); hosts serve /folder at addresses and with
//     certificates of their own (host_listener.go), vCenter's /folder is a
//     slower proxy failing now and then under load (vcenter_proxy.go);
//     hosts throttle and answer 503 (host_throttle.go); idle sessions
//     expire on a clock tests advance (session_expiry.go, clock.go); a
//     running VM's live disk is locked (file_lock.go); questions are
//     asked as ESXi asks them, with its message ids, texts and choices
//     (esxi_questions.go): a moved or copied VM's power-on asks
//     msg.uuid.altered (uuid_question.go), and datastores have a capacity
//     and fill up: a guest write that would grow a delta on a full one
//     stops the VM on msg.hbacommon.outofspace (datastore_space.go).
//     folder.go chains them.
//
// How it attaches to vcsim: see dispatch.go (per-session wrappers chosen by
// Registry.Handler). Only linear snapshot chains are modelled; reverting to a
// snapshot is refused with NotSupported.
package vsim
