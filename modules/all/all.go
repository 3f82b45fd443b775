// Package all lists vmlua's Lua modules, in the order the API reference
// presents them. The CLI, the docs generator and 'vmlua check' use it.
package all

import (
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/host"
	"github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/modules/script"
	"github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

// Modules returns every Lua module vmlua offers.
func Modules() []*runtime.Module {
	return []*runtime.Module{
		log.Module,
		script.Module,
		vm.Module,
		backup.Module,
		host.Module,
		question.Module,
		transport.Module,
	}
}
