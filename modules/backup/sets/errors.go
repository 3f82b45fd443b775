package sets

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// TargetError is a failed target operation as a script sees it: a
// runtime.Error as it is, else one coded not_found, auth or transport
// (where is the URL or path it concerns).
func TargetError(err error, where string) error {
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
