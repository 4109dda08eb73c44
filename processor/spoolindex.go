package processor

import (
	"encoding/binary"
	"errors"
	"slices"
)

// The spool's payloads and the processor's index of them.
//
// A payload is one batch of records: a header naming their sequence
// numbers and counting the records written to the spool before them, then
// the records encoded by recordcodec.AppendBatch. The header is
//
//	0x00 0x00 | u8 version (2) | uvarint before | uvarint first | uvarint count |
//	count-1 × uvarint delta from the previous
//
// The deltas are 1 for consecutive records and larger where records were
// evicted before they were written. The records keep the store's sequence
// numbers across restarts, so a destination's position stays a record
// sequence number with or without a spool. before is the spool's running
// count of records (spooler.written) when the payload was written: the
// records a damaged stretch held are the difference between the counts
// around it, which the sequence numbers cannot give (evicted records leave
// gaps in them too).
//
// The first format had no marker, version or count: "uvarint first |
// uvarint count | deltas". It never starts with 0x00 0x00 (a first number
// 0 is followed by a count of at least 1), so both are read; a payload of
// the first format is "not counted" and the damage around it is counted
// in payloads (see spoolcount.go).

// payloadVersion is the version of the header appendPayloadHeader writes.
const payloadVersion = 2

// errBadHeader is wrapped by the error for a payload whose header does not
// decode: only damage the segment log's checksum missed, or a defect.
var errBadHeader = errors.New("steadylog/processor: spool payload header does not decode")

// payloadHeader is a decoded header.
type payloadHeader struct {
	seqs    []uint64
	before  uint64 // records written to the spool before the payload
	counted bool   // before is known: not a payload of the first format
}

// appendPayloadHeader appends the header of a payload holding the records
// numbered seqs (ascending, at least one), written after before others.
func appendPayloadHeader(dst []byte, before uint64, seqs []uint64) []byte {
	dst = append(dst, 0, 0, payloadVersion)
	dst = binary.AppendUvarint(dst, before)
	return appendPayloadSeqs(dst, seqs)
}

// appendPayloadSeqs appends the sequence numbers of a header.
func appendPayloadSeqs(dst []byte, seqs []uint64) []byte {
	dst = binary.AppendUvarint(dst, seqs[0])
	dst = binary.AppendUvarint(dst, uint64(len(seqs)))
	for i := 1; i < len(seqs); i++ {
		dst = binary.AppendUvarint(dst, seqs[i]-seqs[i-1])
	}
	return dst
}

// parsePayloadHeader decodes a payload's header, of either format, into
// seqs (reused), and returns it and the encoded records that follow.
func parsePayloadHeader(b []byte, seqs []uint64) (payloadHeader, []byte, error) {
	h := payloadHeader{seqs: seqs}
	if len(b) >= 2 && b[0] == 0 && b[1] == 0 {
		if len(b) < 3 || b[2] != payloadVersion {
			return h, nil, errBadHeader
		}
		before, n := binary.Uvarint(b[3:])
		if n <= 0 {
			return h, nil, errBadHeader
		}
		b = b[3+n:]
		h.before, h.counted = before, true
	}
	first, n := binary.Uvarint(b)
	if n <= 0 {
		return h, nil, errBadHeader
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > uint64(len(b)) || h.before+count < h.before {
		return h, nil, errBadHeader
	}
	b = b[n:]
	h.seqs = append(h.seqs[:0], first)
	prev := first
	for range count - 1 {
		delta, n := binary.Uvarint(b)
		if n <= 0 || delta == 0 || prev+delta < prev {
			return h, nil, errBadHeader
		}
		b = b[n:]
		prev += delta
		h.seqs = append(h.seqs, prev)
	}
	return h, b, nil
}

// spoolPayload is the index entry of one payload in the spool that some
// destination still needs.
type spoolPayload struct {
	lsn     uint64   // its position in the segment log
	first   uint64   // the sequence number of its first record
	end     uint64   // one past the sequence number of its last record
	seqs    []uint64 // its records' sequence numbers; nil when they are first…end-1
	n       int      // its number of records
	before  uint64   // the spool's running count of records before it
	counted bool     // before is known (not a payload of the first format)
}

func newSpoolPayload(lsn uint64, h payloadHeader) spoolPayload {
	seqs := h.seqs
	e := spoolPayload{lsn: lsn, first: seqs[0], end: seqs[len(seqs)-1] + 1, n: len(seqs), before: h.before, counted: h.counted}
	if e.end-e.first != uint64(e.n) {
		e.seqs = slices.Clone(seqs)
	}
	return e
}

// each calls f for the sequence number of each record of e in [lo, hi).
func (e *spoolPayload) each(lo, hi uint64, f func(seq uint64)) {
	if e.seqs == nil {
		for s := max(lo, e.first); s < min(hi, e.end); s++ {
			f(s)
		}
		return
	}
	for _, s := range e.seqs {
		if s >= lo && s < hi {
			f(s)
		}
	}
}

// seqSet is a set of record sequence numbers kept as sorted, disjoint,
// non-adjacent ranges: the spool's records that a destination dropped, or
// that nobody may export any more, which come in runs.
type seqSet struct {
	r []seqRange
}

type seqRange struct{ from, to uint64 } // [from, to)

// find returns the index of the first range that ends after seq.
func (s *seqSet) find(seq uint64) int {
	i, _ := slices.BinarySearchFunc(s.r, seq, func(r seqRange, seq uint64) int {
		if r.to <= seq {
			return -1
		}
		return 1
	})
	return i
}

func (s *seqSet) has(seq uint64) bool {
	i := s.find(seq)
	return i < len(s.r) && s.r[i].from <= seq
}

// add adds seq and reports whether it was not in the set.
func (s *seqSet) add(seq uint64) bool {
	i := s.find(seq)
	if i < len(s.r) && s.r[i].from <= seq {
		return false
	}
	// Extend the range before, the range after, or both, or insert one.
	joinPrev := i > 0 && s.r[i-1].to == seq
	joinNext := i < len(s.r) && s.r[i].from == seq+1
	switch {
	case joinPrev && joinNext:
		s.r[i-1].to = s.r[i].to
		s.r = slices.Delete(s.r, i, i+1)
	case joinPrev:
		s.r[i-1].to = seq + 1
	case joinNext:
		s.r[i].from = seq
	default:
		s.r = slices.Insert(s.r, i, seqRange{seq, seq + 1})
	}
	return true
}

// trimBelow forgets the numbers below seq.
func (s *seqSet) trimBelow(seq uint64) {
	i := s.find(seq)
	s.r = s.r[:copy(s.r, s.r[i:])]
	if len(s.r) > 0 && s.r[0].from < seq {
		s.r[0].from = seq
	}
}
