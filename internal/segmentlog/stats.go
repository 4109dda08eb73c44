package segmentlog

import (
	"time"
)

// Stats is a snapshot of what a Log holds.
type Stats struct {
	// Bytes is the size of the segment files, Segments their number.
	Bytes    int64
	Segments int
	// Records counts the live records — those some consumer has not
	// acknowledged, and that were not removed — from First to Next, less
	// those lost to damage.
	Records uint64
	// First is the sequence number of the oldest live record (Next if
	// there is none); Next is the number the next record gets.
	First, Next uint64
	// Oldest is the append time of the oldest live record, zero if none.
	Oldest time.Time
	// DamagedReads counts records cursors found damaged since Open (their
	// checksum no longer matched) and skipped.
	DamagedReads uint64
}

// Stats returns a snapshot of the Log.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	low := l.low()
	st := Stats{Bytes: l.bytes, Segments: len(l.segs), First: l.next, Next: l.next, DamagedReads: l.damagedReads}
	for _, s := range l.segs {
		i := s.search(low)
		if i < len(s.entries) && st.Oldest.IsZero() {
			st.Oldest = time.Unix(0, s.entries[i].time)
			st.First = s.entries[i].seq
		}
		st.Records += uint64(len(s.entries) - i)
	}
	return st
}
