package segmentlog

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Record is one record read by a [Cursor].
type Record struct {
	Seq     uint64
	Time    time.Time // when it was appended
	Payload []byte    // the caller's: a Cursor does not reuse it
}

// Cursor reads a Log's records in order from a position of its own. A
// Cursor is for one goroutine; several Cursors may read one Log at once,
// while it is appended to. Reading does not acknowledge: the consumer
// calls Log.Ack when it is done with records.
type Cursor struct {
	l    *Log
	next uint64
	f    *os.File // a read handle on the segment named fseg
	fseg uint64
	plan []entry
	// damaged: the records the last Next found damaged.
	damaged []uint64
}

// NewCursor returns a Cursor at from: its first Next returns records from
// the first live record at or after from. A consumer restarting passes its
// acknowledged position (Log.Acked).
func (l *Log) NewCursor(from uint64) *Cursor { return &Cursor{l: l, next: from} }

// Position returns the sequence number the cursor reads next (it moves
// past records the Log removed or recovery lost when Next gets there).
func (c *Cursor) Position() uint64 { return c.next }

// Next returns the next records, in order: at most maxRecords and, beyond
// the first, at most maxBytes of payload (the first is returned whatever
// its size, so that a large record cannot stall the cursor). It returns
// no records and a nil error when the cursor has read everything, or when
// every record it read was damaged (then Damaged lists them, and the
// cursor has moved past them). It
// returns records from one segment per call, so it may return fewer than
// asked while more are stored.
//
// A gap between the Seq of consecutive records (or between Position and
// the first) is records that are gone: removed by the bounds, which Append
// reported, or damaged, which Open's Recovery or Stats.DamagedReads
// counted. Records the bounds remove while Next reads are left out.
func (c *Cursor) Next(maxRecords, maxBytes int) ([]Record, error) {
	l := c.l
	c.damaged = c.damaged[:0]
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	c.next = max(c.next, l.first)
	var s *segment
	for _, x := range l.segs {
		if x.search(c.next) < len(x.entries) {
			s = x
			break
		}
	}
	if s == nil {
		c.next = max(c.next, l.next)
		l.mu.Unlock()
		return nil, nil
	}
	c.plan = c.plan[:0]
	var size int
	for i := s.search(c.next); i < len(s.entries) && len(c.plan) < max(maxRecords, 1); i++ {
		e := s.entries[i]
		if len(c.plan) > 0 && size+int(e.n) > maxBytes {
			break
		}
		c.plan = append(c.plan, e)
		size += int(e.n)
	}
	if c.f == nil || c.fseg != s.first {
		if c.f != nil {
			c.f.Close()
			c.f = nil
		}
		// Opened under the mutex: collect cannot delete the file between
		// finding the segment and opening it. Once open, the file stays
		// readable if it is deleted.
		f, err := openNoFollow(filepath.Join(l.dir, segmentName(s.first)), os.O_RDONLY, 0)
		if err != nil {
			l.mu.Unlock()
			return nil, fmt.Errorf("steadylog/segmentlog: reading segment %s: %w", segmentName(s.first), err)
		}
		c.f, c.fseg = f, s.first
	}
	l.mu.Unlock()

	from, to := c.plan[0].off, c.plan[len(c.plan)-1].end()
	buf := make([]byte, to-from)
	if _, err := c.f.ReadAt(buf, from); err != nil {
		return nil, fmt.Errorf("steadylog/segmentlog: reading segment %s: %w", segmentName(s.first), err)
	}
	recs := make([]Record, 0, len(c.plan))
	var damaged uint64
	for _, e := range c.plan {
		frame := buf[e.off-from : e.end()-from]
		h := parseFrameHeader(frame)
		if h.seq != e.seq || !checkFrame(frame) {
			damaged++
			c.damaged = append(c.damaged, e.seq)
			continue
		}
		recs = append(recs, Record{Seq: e.seq, Time: time.Unix(0, h.time), Payload: frame[frameHeaderSize:len(frame):len(frame)]})
	}
	c.next = c.plan[len(c.plan)-1].seq + 1

	l.mu.Lock()
	l.damagedReads += damaged
	first := l.first
	l.mu.Unlock()
	for len(recs) > 0 && recs[0].Seq < first {
		recs = recs[1:]
	}
	return recs, nil
}

// Damaged returns the sequence numbers of the records the last call to
// Next found damaged (their checksum no longer matched, as
// Stats.DamagedReads counts) and skipped, in order; the slice is valid
// until the next call. A caller that must account for every record learns
// here which ones it will never read.
func (c *Cursor) Damaged() []uint64 { return c.damaged }

// Close releases the cursor's file handle. A Cursor that is not closed
// keeps a deleted segment's disk space until it reads past it.
func (c *Cursor) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
