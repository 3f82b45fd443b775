package capread

import (
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is the error (wrapped) of a reader holding more than the cap.
var ErrTooLarge = errors.New("too large to read whole")

// ReadAll reads r to its end, at most max bytes (max >= 0). A reader with
// more is refused with an error wrapping ErrTooLarge that names the cap;
// its bytes are not returned. A read error is returned as it is.
func ReadAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %s: %w", Size(max), ErrTooLarge)
	}
	return b, nil
}

// Size renders a cap for a message: "16 MiB", "64 KiB", or bytes.
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
