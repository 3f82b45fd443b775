package sets

import (
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// StreamProblem says how a disk image's stream header disagrees with the
// catalog's record of the disk (its kind, stream version, size), as
// Verify and OpenChain check it; "" when it agrees. For the readers of
// sets outside this package (pointread).
func StreamProblem(sr *sparse.Reader, d catalog.Disk) string { return streamProblem(sr, d) }
