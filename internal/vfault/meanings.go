package vfault

import (
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// meaning is what a fault means and what to do about it.
type meaning struct{ what, todo string }

const (
	retry     = "retry; if it happens again, the host's or vCenter's logs (hostd.log, vpxd.log) say why"
	freeSpace = "free space there, or choose another datastore"
)

// meanings are the faults vmlua meets, by vSphere name (a type of the
// same name with "Fault" appended, as InvalidPowerStateFault, means the
// same).
var meanings = map[string]meaning{
	"InvalidState":                {"the object is in a state that does not allow it (its host in maintenance mode or disconnected, another operation running on it, ...)", "check the VM and its host in the vSphere client, then retry"},
	"InvalidPowerState":           {"the VM's power state does not allow it", "power the VM off (or on) first, as the operation needs"},
	"InvalidHostState":            {"the host's state does not allow it (it is in maintenance mode, disconnected or in standby)", "use another host, or take this one out of maintenance mode (vmlua host maintenance exit HOST)"},
	"QuestionPending":             {"the VM is waiting for an answer to a question", "answer it (vmlua answer --once, or the vSphere client), then retry"},
	"TaskInProgress":              {"another task is running on the same object", "wait for it to finish (Recent Tasks in the vSphere client), then retry"},
	"HostNotConnected":            {"vCenter is not connected to the host", "reconnect the host in vCenter, or use another host"},
	"HostNotReachable":            {"vCenter cannot reach the host", "check the host's network and state in vCenter, or use another host"},
	"HostCommunication":           {"vCenter cannot talk to the host", "check the host's state in vCenter, then retry"},
	"NotAuthenticated":            {"the vSphere session is not logged in (it expired, or vCenter restarted)", "run again; if it persists, check the profile's username and password"},
	"InvalidLogin":                {"vSphere refused the username or password", "check the profile's username and password (docs/config.md)"},
	"NoPermission":                {"the vSphere user lacks a privilege for it", "grant the privilege to vmlua's user (a role on the object or above it), or use a profile whose user has it"},
	"FileNotFound":                {"a file is not on the datastore", "check the path: the VM's files may have moved, or the datastore is not mounted on this host"},
	"FileAlreadyExists":           {"the file exists already", "remove it, or choose another name"},
	"FileLocked":                  {"the file is locked by another host or process (a running VM, another backup, a stale lock)", "wait for the other user to finish, or find who holds the lock (vmkfstools -D on the host)"},
	"CannotCreateFile":            {"the file cannot be created", "check the datastore's free space and that it is writable from this host"},
	"CannotAccessFile":            {"the file cannot be read or written", "check that the datastore is mounted and the file not locked"},
	"NoDiskSpace":                 {"the datastore is full", freeSpace},
	"InsufficientStorageSpace":    {"there is not enough free space on the datastore", freeSpace},
	"InsufficientResourcesFault":  {"there are not enough resources (CPU, memory, slots) for it", "free resources on the host or cluster, or choose another host or resource pool"},
	"SystemError":                 {"the server hit an internal error", retry},
	"ManagedObjectNotFound":       {"the object no longer exists (it was removed or re-registered meanwhile)", "look it up again: a new run does"},
	"InvalidArgument":             {"vSphere refused an argument", "check the values given (names, paths, options)"},
	"InvalidDatastorePath":        {"the datastore path is not valid", "check the datastore's name and the path"},
	"InvalidDatastore":            {"the datastore is not valid here", "check the datastore's name, and that the host sees it"},
	"DatastoreNotWritableOnHost":  {"the datastore is not writable from this host", "use another datastore, or a host that mounts it read-write"},
	"NotSupported":                {"this vSphere or host does not support it", "check the host's version and license"},
	"NotImplemented":              {"this vSphere does not implement it", "check the vCenter or ESXi version"},
	"MethodNotFound":              {"this vSphere does not have the operation (an older version?)", "check the vCenter or ESXi version"},
	"RestrictedVersion":           {"the host's license does not allow this API call (a free ESXi is read-only to the API)", "license the host, or reach it through vCenter"},
	"ResourceInUse":               {"a resource it needs is in use", "wait until it is free, or find what uses it"},
	"AlreadyExists":               {"an object of that name exists already", "choose another name, or remove the existing object"},
	"DuplicateName":               {"an object of that name exists already", "choose another name, or remove the existing object"},
	"VmAlreadyExistsInDatacenter": {"the VM is registered in this datacenter already", "unregister the existing one, or register the copy under another name"},
	"ConcurrentAccess":            {"another client changed the object at the same moment", "retry"},
	"RequestCanceled":             {"the operation was cancelled (by a person, or by vSphere)", "retry when it is expected to succeed"},
	"Timedout":                    {"vSphere gave up waiting for the operation", "retry; a busy host or datastore is slow"},
	"TooManySnapshotLevels":       {"the VM has too many snapshot levels", "consolidate or remove snapshots (vmlua cleanup commits vmlua's own)"},
	"SnapshotFault":               {"a snapshot operation failed", "check the VM's snapshots in the vSphere client; vmlua cleanup commits vmlua's own"},
	"InvalidVmConfig":             {"the VM's configuration is not valid for it", "check the VM's settings (its .vmx, its devices)"},
	"VmConfigFault":               {"the VM's configuration does not allow it", "check the VM's settings (its .vmx, its devices)"},
	"ToolsUnavailable":            {"VMware Tools are not running in the guest", "start or install VMware Tools, or power the VM off hard"},
	"MismatchedBundle":            {"the configuration bundle was made on another build or host", "restore a bundle of this host's build, or force it"},
	"InvalidName":                 {"the name is not valid", "choose another name"},
	"NotEnoughLicenses":           {"there are not enough licenses", "add licenses in vCenter"},
	"LicenseExpired":              {"the license has expired", "renew the license in vCenter"},
	"RuntimeFault":                {"vSphere failed to do it", retry},
}

// family is the meaning of f's family, for a fault not in meanings.
func family(f types.BaseMethodFault) meaning {
	switch f.(type) {
	case types.BaseInvalidState:
		return meanings["InvalidState"]
	case types.BaseFileFault:
		return meaning{"a file operation failed", "check the datastore and the path"}
	case types.BaseInsufficientResourcesFault:
		return meanings["InsufficientResourcesFault"]
	case types.BaseNoPermission:
		return meanings["NoPermission"]
	case types.BaseInvalidLogin:
		return meanings["InvalidLogin"]
	case types.BaseHostCommunication:
		return meanings["HostCommunication"]
	case types.BaseHostConnectFault:
		return meaning{"the host cannot be connected", "check the host's state in vCenter"}
	case types.BaseSnapshotFault:
		return meanings["SnapshotFault"]
	case types.BaseVmConfigFault:
		return meanings["VmConfigFault"]
	case types.BaseInvalidDatastore:
		return meanings["InvalidDatastore"]
	case types.BaseInvalidArgument:
		return meanings["InvalidArgument"]
	case types.BaseNotSupported:
		return meanings["NotSupported"]
	case types.BaseResourceInUse:
		return meanings["ResourceInUse"]
	case types.BaseTaskInProgress:
		return meanings["TaskInProgress"]
	case types.BaseGuestOperationsFault:
		return meaning{"an operation in the guest failed", "check VMware Tools and the guest's credentials"}
	case types.BaseHostConfigFault:
		return meaning{"the host refused the configuration change", "the host's logs say why"}
	case types.BaseMigrationFault:
		return meaning{"the VM cannot be moved there", "choose another host or datastore"}
	}
	return meaning{}
}

// details are the facts a fault carries that a person needs: the file,
// the privilege, the reason, the power state.
func details(f types.BaseMethodFault) string {
	var d []string
	add := func(label, v string) {
		if v = strings.TrimSpace(v); v != "" {
			d = append(d, label+v)
		}
	}
	if x, ok := f.(types.BaseFileFault); ok {
		add("file ", x.GetFileFault().File)
	}
	if x, ok := f.(types.BaseNoPermission); ok {
		add("privilege ", x.GetNoPermission().PrivilegeId)
	}
	switch x := f.(type) {
	case *types.SystemError:
		add("", x.Reason)
	case *types.SystemErrorFault:
		add("", x.Reason)
	case *types.InvalidPowerState:
		add("it is ", string(x.ExistingState))
	case *types.InvalidPowerStateFault:
		add("it is ", string(x.ExistingState))
	case *types.QuestionPending:
		add("", x.Text)
	case *types.NoDiskSpace:
		add("datastore ", x.Datastore)
	case *types.DuplicateName:
		add("", x.Name)
	case *types.AlreadyExists:
		add("", x.Name)
	case *types.InvalidDatastorePath:
		add("", x.DatastorePath)
	case *types.InvalidVmConfig:
		add("property ", x.Property)
	case *types.ResourceInUse:
		add("", x.Name)
	}
	if x, ok := f.(types.BaseInvalidArgument); ok {
		add("property ", x.GetInvalidArgument().InvalidProperty)
	}
	if x, ok := f.(types.BaseInvalidDatastore); ok {
		add("datastore ", x.GetInvalidDatastore().Name)
	}
	return strings.Join(dedupe(d), ", ")
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
