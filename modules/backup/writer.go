package backup

import (
	"context"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
)

// setWriter is the set a backup writes (package sets' Writer) with the
// target and folder its steps store the disks and configuration files in.
type setWriter struct {
	*sets.Writer
	t   transports.Transport
	dir string
}

func newSetWriter(ctx context.Context, t transports.Transport, dir string, cat *catalog.Catalog) *setWriter {
	return &setWriter{Writer: sets.NewWriter(ctx, t, dir, cat), t: t, dir: dir}
}
