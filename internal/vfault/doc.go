// Package vfault turns vSphere faults into what a person reads: the one
// place where a fault of the vSphere API (a SOAP fault, a vim fault, a
// failed task's fault) gets its meaning and what to do about it. The
// vm module's FaultError makes the runtime.Error of the Lua API from it.
//
// vSphere names a fault by its type (InvalidState, FileNotFound, ...);
// govmomi prints a failed task's fault without a message as its Go type
// ("*types.InvalidState"), and the simulator's tasks carry no other
// message. Text never shows either: each fault type vmlua knows has a
// meaning and a remedy (Describe), a fault family (file faults, invalid
// states, insufficient resources, ...) the meaning of its family, and any
// other fault the words of its name ("invalid datastore path"). The
// server's own message is added when it says more than the type.
//
// taskwait returns failed tasks as Task errors, whose text is already
// human, so a failed task reads the same wherever it is printed.
package vfault
