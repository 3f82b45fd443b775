package runtime_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/vmlua/vmlua/runtime"
)

func newRun(t *testing.T, o runtime.Options) *runtime.Run {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := runtime.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// closer records that the run closed it.
type closer struct{ closed bool }

func (c *closer) Close(context.Context) error { c.closed = true; return nil }

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, r *runtime.Run)
	}{
		{"a value never set reads as the zero value, not found", func(t *testing.T, r *runtime.Run) {
			if v, ok := runtime.NewKey[string]("t.unset").Get(r); ok || v != "" {
				t.Errorf("Get = %q, %v", v, ok)
			}
		}},
		{"set replaces the value", func(t *testing.T, r *runtime.Run) {
			k := runtime.NewKey[string]("t.profile")
			k.Set(r, "a")
			k.Set(r, "b")
			if v, ok := k.Get(r); !ok || v != "b" {
				t.Errorf("Get = %q, %v", v, ok)
			}
		}},
		{"init makes the value once", func(t *testing.T, r *runtime.Run) {
			k := runtime.NewKey[*int]("t.counter")
			n := 0
			mk := func() *int { n++; return new(int) }
			if a, b := k.Init(r, mk), k.Init(r, mk); a != b || n != 1 {
				t.Errorf("Init made %d values (same: %v)", n, a == b)
			}
		}},
		{"two keys of one name are two values", func(t *testing.T, r *runtime.Run) {
			a, b := runtime.NewKey[string]("t.same"), runtime.NewKey[string]("t.same")
			a.Set(r, "a")
			if v, ok := b.Get(r); ok {
				t.Errorf("the other key reads %q", v)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newRun(t, runtime.Options{})) })
	}
}

// TestRunClosesItsValues: a value with Close(ctx) is closed when the run
// ends.
func TestRunClosesItsValues(t *testing.T) {
	r := newRun(t, runtime.Options{})
	c := runtime.NewKey[*closer]("t.closer").Init(r, func() *closer { return &closer{} })
	r.Close()
	if !c.closed {
		t.Error("the run did not close its value")
	}
}

func TestSharedKeys(t *testing.T) {
	k := runtime.NewSharedKey[*int]("t.pool")
	pool := new(int)
	var before runtime.Options
	base := before
	k.Set(&base, pool)
	after := base
	for _, tc := range []struct {
		name string
		o    runtime.Options
		want *int
	}{
		{"runs of the options share the value", base, pool},
		{"a copy made afterwards shares it too", after, pool},
		{"a copy made before does not", before, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := k.Get(newRun(t, tc.o))
			if got != tc.want {
				t.Errorf("Get = %p, want %p", got, tc.want)
			}
		})
	}
	t.Run("setting a copy leaves the original as it was", func(t *testing.T) {
		other := new(int)
		cp := base
		k.Set(&cp, other)
		if got, _ := k.Get(newRun(t, base)); got != pool {
			t.Errorf("the original reads %p, want %p", got, pool)
		}
	})
}
