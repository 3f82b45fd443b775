// Package pcomp compresses a stream on every core and decompresses it.
//
// The input is cut into fixed chunks (4 MiB); each chunk is compressed on
// its own as a complete zstd frame or gzip member, by a pool of workers,
// and the results are written in order. Concatenated zstd frames are one
// valid zstd stream and concatenated gzip members one valid gzip file, so
// `zstd -d` and `gunzip` read the output as they read any other (this is
// how pzstd and pigz work). Memory is bounded: at most two chunks per
// worker are in flight. Output is deterministic for a given input, level
// and chunk size. FrameReader decodes a stream frame by frame and says
// where each frame lies; DecodeFrame decodes one: a reader at random
// decodes only the frames it needs.
package pcomp
