package capread

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAll(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		data    string
		max     int64
		fail    error
		wantErr error
		wantMsg string
	}{
		{name: "a reader under the cap is read whole", data: "abc", max: 4},
		{name: "a reader of exactly the cap is read whole", data: "abcd", max: 4},
		{name: "an empty reader is read as empty", data: "", max: 4},
		{name: "a reader over the cap is refused, not cut", data: "abcde", max: 4, wantErr: ErrTooLarge, wantMsg: "larger than 4 bytes"},
		{name: "the refusal names the cap in MiB", data: strings.Repeat("x", 1<<20+1), max: 1 << 20, wantErr: ErrTooLarge, wantMsg: "larger than 1 MiB"},
		{name: "a read error is returned", data: "abc", max: 4, fail: boom, wantErr: boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := iotestReader(tc.data, tc.fail)
			b, err := ReadAll(r, tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("ReadAll = %d bytes, %v; want an error wrapping %v saying %q", len(b), err, tc.wantErr, tc.wantMsg)
				}
				if b != nil {
					t.Errorf("ReadAll returned %d bytes with its error", len(b))
				}
				return
			}
			if err != nil || string(b) != tc.data {
				t.Fatalf("ReadAll = %q, %v; want %q", b, err, tc.data)
			}
		})
	}
}

// iotestReader yields data, then fail (or EOF when fail is nil).
func iotestReader(data string, fail error) io.Reader {
	r := io.Reader(bytes.NewReader([]byte(data)))
	if fail != nil {
		r = io.MultiReader(r, iotest.ErrReader(fail))
	}
	return r
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{16 << 20: "16 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
