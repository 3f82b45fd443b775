// Package bwlimit limits the bytes per second of streams, with rclone's
// --bwlimit semantics (https://rclone.org/docs/#bwlimit-bwtimetable): a
// rate such as 10M (bytes per second, binary suffixes B, K, M, G, T, P;
// a bare number is KiB/s), "off" (or 0) for no limit, an upload:download
// pair ("10M:100K"), and a timetable of such rates by local time of day,
// optionally by day of week ("08:00,512K 12:00,10M 23:00,off",
// "Mon-08:00,1M Sat-00:00,off").
//
// A Bucket is a token bucket that every stream it is shared by draws
// from, so that several streams together keep to one rate. Time comes from
// a Clock, so that tests measure the bucket's accounting on a fake clock
// instead of the wall clock.
package bwlimit
