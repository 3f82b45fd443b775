package sparse

// Record is one record of a stream, as NextRecord returns it: its kind
// ('D' data, 'Z' zeros, 'U' unchanged from the layer below), the range of
// the image it covers, and for a data record where its bytes lie in the
// (uncompressed) stream. A reader of the image at random uses the records
// of every layer (an index) instead of reading the stream in order.
type Record struct {
	Kind   byte
	Offset int64 // image offset of the record's first byte
	Len    int64 // image bytes it covers
	// Data is the stream offset of a data record's first byte (its
	// bytes are the stream's [Data, Data+Len)); for the other kinds the
	// stream offset after the record's header.
	Data int64
}

// End is the image offset after the record.
func (r Record) End() int64 { return r.Offset + r.Len }

// NextRecord reads the next record whole (its data is read and hashed,
// not returned) and returns it; io.EOF once the trailer was read and
// verified, any other error as Read does. After a Read that stopped inside
// a record, it returns the rest of that record.
func (s *Reader) NextRecord() (Record, error) {
	kind, left, err := s.peek()
	if err != nil {
		return Record{}, err
	}
	r := Record{Kind: kind, Offset: s.pos, Len: left, Data: s.spos}
	if err := s.discard(left); err != nil {
		return Record{}, err
	}
	return r, nil
}

// StreamOffset is how many bytes of the stream were read so far: the
// stream offset of the next byte.
func (s *Reader) StreamOffset() int64 { return s.spos }
