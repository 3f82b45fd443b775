package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// TestTableSortStopsWhenTheRunIsStopped: table.sort of strings in the
// default order is Go work the interpreter never interrupts; it looks at
// the run's context itself, raises when the run was stopped, and leaves
// the list as it was.
func TestTableSortStopsWhenTheRunIsStopped(t *testing.T) {
	r, err := New(Options{Logger: slog.New(slog.DiscardHandler), Limits: Limits{MemoryBytes: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	L := r.NewState()
	defer L.Close()
	list := L.NewTable()
	const n = 100000
	for i := 0; i < n; i++ {
		list.RawSetInt(i+1, lua.LString(fmt.Sprintf("%08d", n-i)))
	}
	r.cancel(errors.New("received terminated"))
	sortFn := L.GetField(L.GetGlobal("table"), "sort")
	err = L.CallByParam(lua.P{Fn: sortFn, NRet: 0, Protect: true}, list)
	var api *lua.ApiError
	if !errors.As(err, &api) || !strings.HasPrefix(api.Object.String(), "table") {
		t.Fatalf("table.sort of a stopped run: %v; want a structured error", err)
	}
	if code := api.Object.(*lua.LTable).RawGetString("code").String(); code != CodeCanceled {
		t.Errorf("table.sort of a stopped run raised code %q; want %q", code, CodeCanceled)
	}
	if first := list.RawGetInt(1).String(); first != fmt.Sprintf("%08d", n) {
		t.Errorf("the list was changed by the interrupted sort: first is %s", first)
	}
}
