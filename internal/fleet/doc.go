// Package fleet runs one job per VM in parallel within limits: at most Jobs
// at once, at most PerHost on one ESX host and at most PerDatastore on one
// datastore (the book's rule of thumb: 2–4 concurrent backups per host
// before the service console suffers). A job starts only when every limit it
// touches has room; jobs that wait do not block jobs on other hosts. One
// job's failure does not stop the others. Shard picks a stable 1/n of the
// VMs by UUID so that several machines split a fleet without talking to
// each other.
package fleet
