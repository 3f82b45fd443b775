package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// resolveSet turns set= (an id, or "latest" with vm=) into a set id.
func resolveSet(r *runtime.Run, h *modtransport.Handle, set, vmName string, completeOnly bool) (string, error) {
	if set == "" || set == "latest" {
		if vmName == "" {
			return "", runtime.Errorf(runtime.CodeInvalidArg, "set= is required: a set id such as \"DB01/20260102T150405Z\" (backup.list shows them), or set=\"latest\" with vm=")
		}
		sets, err := List(r.Context(), h.T, vmName)
		if err != nil {
			return "", transportErr(err, h.URL)
		}
		for i := len(sets) - 1; i >= 0; i-- {
			if sets[i].Complete || !completeOnly {
				return sets[i].ID, nil
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

func transportErr(err error, where string) error {
	var re *runtime.Error
	if errors.As(err, &re) {
		return re
	}
	code := runtime.CodeTransport
	if errors.Is(err, fs.ErrNotExist) {
		code = runtime.CodeNotFound
	}
	if errors.Is(err, transports.ErrAuth) {
		code = runtime.CodeAuth
	}
	return &runtime.Error{Code: code, Path: where, Message: fmt.Sprintf("%v", err), Err: err}
}
