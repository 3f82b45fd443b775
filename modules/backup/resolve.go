package backup

import (
	"strings"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
)

// ResolveSet turns set= (an id, or "latest" with vm=) into a set id: the
// newest set of the VM (complete only, with completeOnly), or the id given
// once it is checked. A VM without such a set is a not_found error.
func ResolveSet(r *runtime.Run, h *modtransport.Handle, set, vmName string, completeOnly bool) (string, error) {
	if set == "" || set == "latest" {
		if vmName == "" {
			return "", runtime.Errorf(runtime.CodeInvalidArg, "set= is required: a set id such as \"DB01/20260102T150405Z\" (backup.list shows them), or set=\"latest\" with vm=")
		}
		list, err := sets.List(r.Context(), h.T, vmName)
		if err != nil {
			return "", sets.TargetError(err, h.URL)
		}
		for i := len(list) - 1; i >= 0; i-- {
			if list[i].Complete || !completeOnly {
				return list[i].ID, nil
			}
		}
		return "", &runtime.Error{Code: runtime.CodeNotFound, VM: vmName, Path: h.URL, Message: "there is no complete set of this VM on the target"}
	}
	if _, _, err := catalog.ParseSetID(set); err != nil {
		return "", runtime.Errorf(runtime.CodeInvalidArg, "%v", err)
	}
	if strings.Contains(set, "..") {
		return "", runtime.Errorf(runtime.CodeInvalidArg, "set id %q is not a set id", set)
	}
	return set, nil
}
