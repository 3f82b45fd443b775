// Package taskwait waits for a vSphere task and returns its result as soon
// as it has one.
//
// govmomi's Task.WaitForResult creates a property collector and waits in
// WaitForUpdatesEx; a collector may hold an update back to batch it with
// others (govmomi's simulator holds every update for up to 20 ms, so a
// snapshot the simulator takes in 3 ms was waited for 23). Most of a
// backup's tasks are that short when a disk has little to merge. Wait
// therefore reads the task's info a few times first, 1, 2, 4 and 8 ms
// apart (at most 4 RetrieveProperties calls, 15 ms), and only then waits
// for updates as WaitForResult does, so a long task costs the same calls
// as before plus those four.
//
// The result is WaitForResult's: the task's info, and for a failed task a
// task.Error carrying its fault, in a vfault.Task that prints the fault's
// meaning, never its Go type.
package taskwait
