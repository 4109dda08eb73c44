package segmentlog

import (
	"fmt"
	"os"
	"path/filepath"
)

// Reading heads: a caller that rebuilds an index of its payloads at start
// needs what each payload begins with, not the payload, and a Cursor
// would read (and checksum) every byte again right after Open did.

// headGap is the most Heads reads past between two heads to get them in
// one read: from the page cache, a read of it costs about what a system
// call does.
const headGap = 16 << 10

// headWindow bounds one read of Heads, and its buffer.
const headWindow = 1 << 20

// Heads calls f, in order, with the sequence number and the first n bytes
// (all of them if the payload is shorter) of each live record from from
// on, until f returns false or no record is left. head is valid during
// the call only.
//
// Heads reads those bytes only: unlike a Cursor it does not check the
// record's checksum, which covers the whole frame. Open checked every
// record; one damaged since is found by the Cursor that reads it. Heads
// reads the records that were live when it reached their segment; it
// returns ErrClosed if the Log is closed.
func (l *Log) Heads(from uint64, n int, f func(seq uint64, head []byte) bool) error {
	var plan []entry
	var buf []byte
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return ErrClosed
		}
		from = max(from, l.first)
		var s *segment
		for _, x := range l.segs {
			if x.search(from) < len(x.entries) {
				s = x
				break
			}
		}
		if s == nil {
			l.mu.Unlock()
			return nil
		}
		plan = append(plan[:0], s.entries[s.search(from):]...)
		// Opened under the mutex, as a Cursor does: the file cannot be
		// deleted between finding the segment and opening it.
		file, err := openNoFollow(filepath.Join(l.dir, segmentName(s.first)), os.O_RDONLY, 0)
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("steadylog/segmentlog: reading segment %s: %w", segmentName(s.first), err)
		}
		more, err := readHeads(file, plan, n, &buf, f)
		file.Close()
		if err != nil {
			return fmt.Errorf("steadylog/segmentlog: reading segment %s: %w", segmentName(s.first), err)
		}
		if !more {
			return nil
		}
		from = plan[len(plan)-1].seq + 1
	}
}

// readHeads reads the heads of the records plan locates in file, those
// close together in one read into *buf, and calls f for each. It reports
// whether f wants more.
func readHeads(file *os.File, plan []entry, n int, buf *[]byte, f func(seq uint64, head []byte) bool) (bool, error) {
	head := func(e entry) (from, to int64) {
		from = e.off + frameHeaderSize
		return from, from + int64(min(n, int(e.n)))
	}
	for i := 0; i < len(plan); {
		start, end := head(plan[i])
		j := i + 1
		for ; j < len(plan); j++ {
			from, to := head(plan[j])
			if from-end > headGap || to-start > headWindow {
				break
			}
			end = to
		}
		if cap(*buf) < int(end-start) {
			*buf = make([]byte, end-start)
		}
		b := (*buf)[:end-start]
		if _, err := file.ReadAt(b, start); err != nil {
			return false, err
		}
		for _, e := range plan[i:j] {
			from, to := head(e)
			if !f(e.seq, b[from-start:to-start:to-start]) {
				return false, nil
			}
		}
		i = j
	}
	return true, nil
}
