package segmentlog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// MaxPayload is the largest payload Append accepts: a segment holds at
// least one record.
func (l *Log) MaxPayload() int {
	return int(l.cfg.segmentSize - segmentHeaderSize - frameHeaderSize)
}

// Append appends each payload as one record, numbered consecutively from
// first, stamped with the clock. It writes them to the active segment
// file with one write per segment touched and never fsyncs: once Append
// returns, the records survive the process being killed, and they survive
// a crash of the machine once Sync has returned. Cursors see them at once.
//
// An Append either appends every payload or none: on an error, a
// segment it extended is cut back to its last whole record, one it
// started is deleted, and the next Append starts a new segment, so a
// full disk or a file-size limit fails this call and not the Log.
//
// removed lists the records the bounds removed to make room or because
// they were too old, oldest first — also when err is not nil. Append with
// no payloads applies Options.MaxAge only. A payload larger than
// MaxPayload, or payloads that together do not fit in Options.MaxBytes
// beside the active segment, return ErrTooLarge and remove nothing.
func (l *Log) Append(payloads ...[]byte) (first uint64, removed []Removal, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, nil, ErrClosed
	}
	var total int64 // with a segment header per record, the most it can start
	for _, p := range payloads {
		if len(p) > l.MaxPayload() {
			return l.next, nil, fmt.Errorf("%w: %d bytes, the most is %d (SegmentSize)", ErrTooLarge, len(p), l.MaxPayload())
		}
		total += segmentHeaderSize + frameSize(len(p))
	}
	if total > l.cfg.maxBytes-l.cfg.segmentSize {
		return l.next, nil, fmt.Errorf("%w: %d bytes in one Append, the most is %d (MaxBytes - SegmentSize)", ErrTooLarge, total, l.cfg.maxBytes-l.cfg.segmentSize)
	}
	now := l.cfg.now().UnixNano()
	removed = l.expire(now, nil)
	first = l.next
	if len(payloads) == 0 {
		return first, removed, l.collect()
	}
	removed, err = l.write(payloads, now, removed)
	if err != nil {
		return first, removed, err
	}
	return first, removed, l.collect()
}

// undo is how to take back what one Append did to a segment.
type undo struct {
	s       *segment
	size    int64
	entries int
	created bool
}

// write appends payloads under l.mu; on an error it takes back every
// record it wrote.
func (l *Log) write(payloads [][]byte, now int64, removed []Removal) ([]Removal, error) {
	var undos []undo
	touched := func(s *segment) bool {
		for _, u := range undos {
			if u.s == s {
				return true
			}
		}
		return s == l.active
	}
	firstSeq := l.next
	fail := func(err error) ([]Removal, error) {
		for i := len(undos) - 1; i >= 0; i-- {
			l.undo(undos[i])
		}
		l.next = firstSeq
		l.bytes = 0 // with what a failed truncate left
		for _, s := range l.segs {
			l.bytes += s.size
		}
		// The next Append starts a new segment: a segment that could not
		// be written to, or cut back, gets nothing more.
		l.active = nil
		return removed, err
	}
	for i := 0; i < len(payloads); {
		s := l.active
		buf := l.scratch[:0]
		if s == nil || (s.size > segmentHeaderSize && s.size+frameSize(len(payloads[i])) > l.cfg.segmentSize) {
			l.active = nil
			f, err := openNoFollow(filepath.Join(l.dir, segmentName(l.next)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fail(fmt.Errorf("steadylog/segmentlog: creating a segment: %w", err))
			}
			s = &segment{first: l.next, w: f, dirty: true}
			l.segs = append(l.segs, s)
			l.active = s
			l.dirChanges++
			undos = append(undos, undo{s: s, created: true})
			buf = append(buf, segmentHeader()...)
		} else {
			undos = append(undos, undo{s: s, size: s.size, entries: len(s.entries)})
		}
		seq := l.next
		for ; i < len(payloads); i++ {
			fs := frameSize(len(payloads[i]))
			if s.size+int64(len(buf)) > segmentHeaderSize && s.size+int64(len(buf))+fs > l.cfg.segmentSize {
				break
			}
			for l.bytes+int64(len(buf))+fs > l.cfg.maxBytes {
				if len(l.segs) == 0 || touched(l.segs[0]) {
					return fail(fmt.Errorf("%w: no room within MaxBytes", ErrTooLarge))
				}
				removed = l.removeOldest(ReasonMaxBytes, removed)
				if err := l.collect(); err != nil {
					return fail(err)
				}
			}
			s.entries = append(s.entries, entry{seq: seq, off: s.size + int64(len(buf)), n: uint32(len(payloads[i])), time: now})
			buf = appendFrame(buf, seq, now, payloads[i])
			seq++
		}
		l.scratch = buf
		if n, err := s.w.WriteAt(buf, s.size); err != nil {
			s.size += int64(n) // until undo cuts it back
			return fail(fmt.Errorf("steadylog/segmentlog: writing segment %s: %w", segmentName(s.first), err))
		}
		s.size += int64(len(buf))
		s.dirty = true
		l.bytes += int64(len(buf))
		l.next = seq
	}
	if cap(l.scratch) > 4*int(l.cfg.segmentSize) {
		l.scratch = nil
	}
	return removed, nil
}

// undo takes back what one Append did to u.s.
func (l *Log) undo(u undo) {
	s := u.s
	if u.created {
		s.w.Close()
		s.w = nil
		// If the file cannot be removed, the next segment created with
		// its name truncates it.
		_ = os.Remove(filepath.Join(l.dir, segmentName(s.first)))
		l.segs = slices.DeleteFunc(l.segs, func(x *segment) bool { return x == s })
		return
	}
	s.entries = s.entries[:u.entries]
	if s.w.Truncate(u.size) == nil {
		s.size = u.size
	}
	// Otherwise the file keeps a partial frame after its last whole
	// record, which recovery discards; s.size counts those bytes.
}
