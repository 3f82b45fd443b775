// Package dsread reads a frozen disk out of a datastore with several HTTP
// range GETs at once: the areas to read are cut into spans (Spans; at most
// MaxSpan = 8 MiB, which backups use; v:export uses 2 MiB), fetched by up to
// four GETs in flight, each on a connection of its own so that TLS and the
// network work on several cores, and handed on strictly in order
// (Client.ReadSpans, or Client.Copy into an io.Writer).
//
// One serial download waits on one TCP stream and one TLS decryption, which
// is what limits it against a real datastore far away; several ranged GETs
// in flight fill the pipe. (Against the simulator on the same two cores the
// read is CPU-bound either way.) Memory is bounded by the buffers: five of
// the biggest span's size, plus up to 16 MiB for up to 16 spans under 1 MiB
// (an incremental backup's scattered areas): 56 MiB at most.
//
// Every goroutine the package starts has ended when ReadSpans or Copy
// returns; Client.Close closes the client's idle connections.
//
// A datastore that ignores the Range header (it answers 200 with the whole
// file) makes ReadSpans fail with ErrRangeIgnored; Copy then goes on with
// one plain GET per remaining extent file, as a serial download would.
package dsread
