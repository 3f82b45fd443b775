// Package all lists vmlua's Lua modules, in the order the API reference
// presents them, and registers the methods one module adds to another's
// type (v:backup). The CLI, the docs generator, 'vmlua check' and the
// test harnesses use it: a run given modules listed by hand has no
// v:backup.
package all

import (
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/host"
	"github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/modules/notify"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/modules/script"
	"github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

// Modules returns every Lua module vmlua offers, with the methods one
// module adds to another's type: backup's v:backup on the vm module's VM.
func Modules() []*runtime.Module {
	mods := []*runtime.Module{
		log.Module,
		script.Module,
		vm.Module,
		backup.Module,
		host.Module,
		question.Module,
		transport.Module,
		notify.Module,
	}
	return runtime.Extend(mods, vm.VMType, backup.VMMethods...)
}
