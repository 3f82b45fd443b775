package transports

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/textproto"
	"path"
	"strings"
	"syscall"
)

var (
	// ErrOutsideRoot: a path would leave the transport's root.
	ErrOutsideRoot = errors.New("path leaves the transport's root")
	// ErrAuth: the server refused the credentials or the host key.
	ErrAuth = errors.New("authentication failed")
	// ErrNoSpace: the target is full.
	ErrNoSpace = errors.New("no space left on the target")
	// ErrNotRegular: where a regular file was expected there is a
	// directory, a named pipe (FIFO), a device or a socket. Opening a FIFO
	// blocks until something writes into it and a device may never end,
	// so every transport refuses to open anything but a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrInvalidName: the server refuses a name itself (too long, or
	// characters its file system does not allow).
	ErrInvalidName = errors.New("the server refuses the name")
	// ErrPasswordInURL: a URL carries a password. Passwords belong in the
	// config's named credentials, never in a URL a script holds.
	ErrPasswordInURL = errors.New("the URL carries a password")
)

// Class is what kind of failure an error is: whether retrying it can
// help, and what the user is told. Classify is the one place that decides;
// each transport maps its protocol's status codes onto the sentinels and
// errno values Classify knows (its wrap function), so the decision is the
// same whatever the transport.
type Class string

// The classes. Every class but ClassTransient is permanent: the same call
// fails the same way when repeated, so Retry gives up at once.
const (
	ClassTransient   Class = "transient"          // network trouble, a busy server, anything not known to be permanent
	ClassNotFound    Class = "not found"          // fs.ErrNotExist, ENOTDIR on the way
	ClassExists      Class = "exists"             // fs.ErrExist, a directory that is not empty
	ClassNotRegular  Class = "not a regular file" // ErrNotRegular, EISDIR ("is a directory")
	ClassPermission  Class = "permission"         // fs.ErrPermission, a read-only file system
	ClassNoSpace     Class = "no space"           // ErrNoSpace, ENOSPC, EDQUOT
	ClassInvalidName Class = "invalid name"       // ErrInvalidName, ENAMETOOLONG
	ClassAuth        Class = "auth"               // ErrAuth
	ClassInvalid     Class = "invalid argument"   // ErrOutsideRoot, ErrUnknownScheme, ErrPasswordInURL
	ClassRefused     Class = "refused"            // a protocol's permanent refusal (FTP 5xx), Permanent(err)
	ClassCanceled    Class = "canceled"           // the context was cancelled or its deadline passed
)

// Permanent reports whether errors of class c cannot change on retry.
func (c Class) Permanent() bool { return c != ClassTransient && c != "" }

// Classify returns err's class; "" for a nil err. Errors it does not
// recognise are ClassTransient: an unknown failure may be the network's.
func Classify(err error) Class {
	var p permanentError
	var tp *textproto.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ClassCanceled
	case errors.Is(err, ErrAuth):
		return ClassAuth
	case errors.Is(err, ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ClassNoSpace
	case errors.Is(err, ErrOutsideRoot), errors.Is(err, ErrUnknownScheme), errors.Is(err, ErrPasswordInURL):
		return ClassInvalid
	case errors.Is(err, ErrInvalidName), errors.Is(err, syscall.ENAMETOOLONG):
		return ClassInvalidName
	case errors.Is(err, ErrNotRegular), errors.Is(err, syscall.EISDIR):
		return ClassNotRegular
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return ClassNotFound
	case errors.Is(err, fs.ErrExist), errors.Is(err, syscall.ENOTEMPTY):
		return ClassExists
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return ClassPermission
	case errors.As(err, &tp) && tp.Code >= 500 && tp.Code < 600, errors.As(err, &p):
		return ClassRefused
	}
	return ClassTransient
}

// IsPermanent reports whether retrying err is pointless: its class
// (Classify) is any but ClassTransient.
func IsPermanent(err error) bool { return Classify(err).Permanent() }

// NotRegular returns the error for opening p, which is a kind ("a
// directory", "a named pipe (FIFO)") rather than a regular file; it wraps
// ErrNotRegular.
func NotRegular(p, kind string) error {
	return fmt.Errorf("%s is %s: %w; only regular files can be read", p, kind, ErrNotRegular)
}

// ModeKind names what a file mode describes, for NotRegular: "a
// directory", "a named pipe (FIFO)", "a socket", "a device", "a symbolic
// link", or "" for a regular file.
func ModeKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return ""
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0, t&fs.ModeCharDevice != 0:
		return "a device"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// CleanPath turns a transport-relative path into a clean relative path
// ("" for the root). Absolute paths and paths that climb out of the root
// with ".." are refused with ErrOutsideRoot.
func CleanPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q: %w", p, ErrOutsideRoot)
	}
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q is absolute: %w", p, ErrOutsideRoot)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q: %w", p, ErrOutsideRoot)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}
