package vm

import (
	"context"
	"errors"
	"strings"

	"github.com/vmlua/vmlua/runtime"
)

// ErrNoMatch is the cause of NoMatch's error (errors.Is).
var ErrNoMatch = errors.New("the selection matches no VM")

// NoMatch is the error for a selection that matched no VM: not_found,
// "no VM matches name:DB1 (did you mean name:DB01?)" when a VM of a close
// name (or .vmx path) exists. It reads the inventory's names once; call it
// only once nothing matched.
func (c *Conn) NoMatch(ctx context.Context, spec Spec) *runtime.Error {
	msg := "no VM matches " + spec.String()
	if hint := c.ClosestVM(ctx, spec); hint != "" {
		msg += " (did you mean " + hint + "?)"
	}
	return &runtime.Error{Code: runtime.CodeNotFound, Message: msg, Err: ErrNoMatch}
}

// ClosestVM is the specifier of the VM whose name (or .vmx path) is
// closest to the one spec names, or "": a specifier with a pattern, or of
// another kind, has none. For "did you mean" when spec matched nothing.
func (c *Conn) ClosestVM(ctx context.Context, spec Spec) string {
	if (spec.Kind != "name" && spec.Kind != "vmx") || !spec.single() {
		return ""
	}
	all, err := c.inventory(ctx)
	if err != nil {
		return "" // the suggestion is a courtesy: the error is "no match"
	}
	var names []string
	for _, x := range all {
		switch {
		case spec.Kind == "vmx" && x.Config != nil:
			names = append(names, x.Config.Files.VmPathName)
		case spec.Kind == "name":
			names = append(names, x.Name)
		}
	}
	got := spec.Value
	best := runtime.Closest(got, names)
	if best == "" {
		// a name that differs only in case is as likely a slip
		for _, n := range names {
			if strings.EqualFold(n, got) {
				best = n
				break
			}
		}
	}
	if best == "" {
		return ""
	}
	if spec.Kind == "vmx" {
		return best
	}
	return "name:" + best
}
