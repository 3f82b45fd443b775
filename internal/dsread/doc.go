// Package dsread moves disk bytes between vmlua and a datastore's file
// service (/folder) the way real vSphere wants it.
//
// Where they go (Access, access.go): with a vCenter session, to the ESXi
// host the VM runs on (OnHost; else a host the datastore is mounted on),
// at the host's own address (its management IP and summary.config.port)
// with a service ticket per request (AcquireGenericServiceTicket: a ticket
// is good for one request), the host's certificate checked against the
// profile's pin for it or vCenter's record of it (host.config.certificate);
// a mismatch is refused, never fallen back from. Only a host that cannot
// be reached is read through vCenter (the session's cookie), logged once
// with why, and once how much slower it ran. With an ESXi session, the
// endpoint itself. Every request of a session to a host takes one of the
// host's PerHost slots (default 4), shared by every disk and VM of the
// session.
//
// How they are retried (retry.go): a 503 backs off and is retried for as
// long as the run lasts; a 500, 502, 504 or an answer cut short, up to 8
// times in a row; a 401 gets a new ticket or logs the session in again.
// Only that request is sent again.
//
// Reading (dsread.go, copy.go): the areas to read are cut into spans
// (Spans; at most MaxSpan = 8 MiB, which backups use; v:export uses 2 MiB);
// small spans of one file less than 1 MiB apart share a GET of at most
// 8 MiB (what lies between is read and dropped); up to four big GETs are
// in flight per disk, handed on strictly in order (Client.ReadSpans, or
// Client.Copy into an io.Writer). Memory is bounded by the buffers: five
// of the biggest GET's size, plus up to 16 MiB for up to 16 GETs under
// 1 MiB (an incremental's scattered areas): 56 MiB at most. Every
// goroutine the package starts has ended when ReadSpans or Copy returns.
//
// A datastore that ignores the Range header (it answers 200 with the whole
// file) makes ReadSpans fail with ErrRangeIgnored; Copy then goes on with
// one plain GET per remaining extent file, as a serial download would.
//
// Writing (upload.go): Upload PUTs a restored disk to a host of the
// datastore the same way. HostRequest (hostrequest.go) sends a request for
// a URL only a host serves (its configuration bundle) to the host's own
// address, never through vCenter. ReadSmall reads a descriptor or a .vmx
// through vCenter, retried as the rest.
package dsread
