package eventually

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestTrueWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	go func() {
		for i := 0; i < 5; i++ {
			time.Sleep(time.Millisecond)
			n.Add(1)
		}
	}()
	calls := 0
	True(t, "five increments", func() bool { calls++; return n.Load() == 5 })
	if n.Load() != 5 || calls < 1 {
		t.Fatalf("returned with n=%d after %d calls", n.Load(), calls)
	}
}

func TestDoneReturnsTheValue(t *testing.T) {
	ch := make(chan int, 1)
	go func() { ch <- 42 }()
	if v := Done(t, "the value", ch); v != 42 {
		t.Fatalf("Done = %d, want 42", v)
	}
}

func TestContextEndsBeforeTheTestDeadline(t *testing.T) {
	ctx := Context(t)
	dl, ok := t.Deadline()
	cdl, cok := ctx.Deadline()
	if ok != cok {
		t.Fatalf("test deadline %v (%v), context deadline %v (%v)", dl, ok, cdl, cok)
	}
	if ok && !cdl.Before(dl) {
		t.Fatalf("the context's deadline %v is not before the test's %v", cdl, dl)
	}
}
