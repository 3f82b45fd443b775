package script

import (
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/window"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// windowKey holds the run's backup window (--window, [limits] window),
// shared by the runs of a fleet; ownWindows the windows a script named
// itself, per run.
var (
	windowKey  = runtime.NewSharedKey[*window.Gate]("script.window")
	ownWindows = runtime.NewKey[*scriptWindows]("script.own_windows")
)

type scriptWindows struct {
	mu sync.Mutex
	m  map[window.Window]*window.Gate
}

// ShareWindow gives the runs made from o the backup window g (--window):
// script.window_closed() asks it.
func ShareWindow(o *runtime.Options, g *window.Gate) { windowKey.Set(o, g) }

var windowClosed = runtime.Func{
	Name:    "window_closed",
	Args:    []runtime.Arg{{Name: "window", Type: "string", Optional: true, Doc: "START-END in local time, e.g. \"22:00-06:00\" (may cross midnight); default: the run's --window ([limits] window)"}},
	Returns: "string|nil",
	Doc: "Asks before starting the next VM whether the backup window still allows it: nil while it does (and always when the run has no window), " +
		"else why not, as a message for the summary (\"not started: the window 22:00-06:00 closed at 06:00 Tue\"). " +
		"The window is the occurrence the run started in (for a window the script names, the one that held when it first asked): " +
		"once it closes nothing new should start, even if the run lasts until the window opens again; what runs goes on to its end. " +
		"A run that began outside its window gets a message at once. A script lists the VMs it did not start and ends with " +
		"`script.status(\"partial\")` (exit 7), as the shipped backup scripts do; `vmlua run --each --window` does the same for the VMs it did not start.",
	Fn: func(r *runtime.Run, L *lua.LState) int {
		var g *window.Gate
		if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
			w, err := window.Parse(L.CheckString(1))
			if err != nil {
				L.ArgError(1, err.Error())
			}
			now := time.Now
			if shared, ok := windowKey.Get(r); ok && shared != nil {
				now = shared.Now
			}
			ws := ownWindows.Init(r, func() *scriptWindows { return &scriptWindows{m: map[window.Window]*window.Gate{}} })
			ws.mu.Lock()
			if g = ws.m[w]; g == nil {
				g = window.NewGate(w, now)
				ws.m[w] = g
			}
			ws.mu.Unlock()
		} else {
			g, _ = windowKey.Get(r)
		}
		if err := g.Closed(); err != nil {
			L.Push(lua.LString(err.Error()))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	},
}

func init() { Module.Funcs = append(Module.Funcs, windowClosed) }

// SharedWindow returns the backup window ShareWindow gave o.
func SharedWindow(o runtime.Options) (*window.Gate, bool) {
	return windowKey.From(o)
}
