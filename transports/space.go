package transports

import "context"

// SpaceReporter is an optional interface of a transport that can say how
// many bytes its target still takes (vmlua doctor compares it with the
// disks of the VMs it would back up there). Find it with As.
type SpaceReporter interface {
	// FreeSpace returns the bytes that can still be written at path (a
	// folder of the transport, "" for its root) as the server reports
	// them: a file system's space available to this user, a datastore's
	// free space.
	FreeSpace(ctx context.Context, path string) (int64, error)
}
