// Package dsread reads a frozen disk out of a datastore fast: the areas to
// read are cut into spans of at most 8 MiB (Spans), fetched by up to four
// HTTP range GETs at once, each on a connection of its own so that TLS and
// the network work on several cores, and handed on strictly in order
// (Client.ReadSpans, or Client.Copy into an io.Writer).
//
// One serial download of a disk waits on one TCP stream and one TLS
// decryption; several ranged GETs in flight fill the pipe. Memory is bounded
// by the buffers: (readAhead+1)*8 MiB for big spans plus 16 MiB for up to 16
// small ones (an incremental backup's scattered areas), 56 MiB in all.
//
// Every goroutine the package starts has ended when ReadSpans or Copy
// returns; Client.Close closes the client's idle connections.
//
// A datastore that ignores the Range header (it answers 200 with the whole
// file) makes ReadSpans fail with ErrRangeIgnored; Copy then goes on with
// one plain GET per remaining extent file, as a serial download would.
package dsread
