package segmentlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

const lockName = "LOCK"

// Log is a durable FIFO of byte payloads in a directory of segment files.
// Records are numbered consecutively; each consumer named in
// Options.Consumers acknowledges a position, and a segment file is deleted
// once every consumer has acknowledged all of its records (or the bounds
// removed them).
//
// A Log is safe for concurrent use. The intended use is one goroutine that
// appends and syncs, and one goroutine per consumer with its own [Cursor]
// that reads and acknowledges. Every method holds the Log's mutex only for
// bookkeeping and for an Append's write, which goes to the page cache:
// cursors read and Sync fsyncs without it. Append, Sync and Close exclude
// one another.
type Log struct {
	dir  string
	cfg  config
	dirf *os.File // the directory, for fsync
	lock *os.File // holds the flock

	// wmu serialises the writer's calls (Append, Sync, Close), so that
	// Sync can fsync without mu, while no segment is written.
	wmu sync.Mutex

	mu     sync.Mutex // guards what follows
	closed bool
	segs   []*segment // oldest first
	active *segment   // the one Append writes to; nil until the next Append creates one
	first  uint64     // the oldest live record; those below were acknowledged by all or removed
	next   uint64     // the sequence number of the next record
	acks   []uint64   // per consumer, in cfg.consumers order
	bytes  int64      // of all segments

	// Changes that Sync makes durable, counted so that a Sync knows
	// whether more happened while it was writing without the mutex.
	dirChanges, dirSynced       uint64 // segment files created or deleted
	ledgerChanges, ledgerSynced uint64 // first or acks changed
	ledgerNext                  uint64 // next as the ledger on disk has it
	damagedReads                uint64 // records a cursor found damaged after Open
	scratch                     []byte // frames of one Append, reused
}

// Reason says why records were removed before every consumer had
// acknowledged them.
type Reason int

const (
	// ReasonMaxBytes: an Append needed the room (Options.MaxBytes).
	ReasonMaxBytes Reason = iota + 1
	// ReasonMaxAge: the records were older than Options.MaxAge.
	ReasonMaxAge
)

func (r Reason) String() string {
	switch r {
	case ReasonMaxBytes:
		return "max_bytes"
	case ReasonMaxAge:
		return "max_age"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Removal is a range of records [From, To) that the Log removed under
// Reason. The range may include sequence numbers recovery already reported
// as damaged.
type Removal struct {
	From, To uint64
	Reason   Reason
}

// Lost returns how many of the removed records a consumer that had
// acknowledged up to acked (exclusive) had not acknowledged: what it
// should count as dropped.
func (r Removal) Lost(acked uint64) uint64 {
	from := max(r.From, acked)
	if from >= r.To {
		return 0
	}
	return r.To - from
}

// Open opens the log in dir, creating the directory (0700) if it is
// missing, locks it, and recovers what the segment files hold (see
// [Recovery]). It returns ErrLocked if another Log has dir open,
// ErrSymlink if dir or a file in it is a symbolic link, an error wrapping
// ErrInvalidOptions for invalid opts, and an error wrapping the operating
// system's if dir cannot be read or written. Open does not panic on a
// damaged directory: what does not decode is skipped and counted.
func Open(dir string, opts Options) (*Log, Recovery, error) {
	if !supported {
		return nil, Recovery{}, ErrUnsupported
	}
	cfg, err := opts.resolve()
	if err != nil {
		return nil, Recovery{}, err
	}
	dir = filepath.Clean(dir)
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			fi, err = os.Lstat(dir)
		}
	}
	if err != nil {
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: opening %s: %w", dir, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, Recovery{}, fmt.Errorf("%w: directory %s", ErrSymlink, dir)
	}
	if !fi.IsDir() {
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: %s is not a directory", dir)
	}
	dirf, err := openNoFollow(dir, os.O_RDONLY, 0)
	if err != nil {
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: opening %s: %w", dir, err)
	}
	lockf, err := openNoFollow(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		if err = lockFile(lockf); err != nil {
			lockf.Close()
		}
	}
	if err != nil {
		dirf.Close()
		if errors.Is(err, ErrLocked) || errors.Is(err, ErrSymlink) {
			return nil, Recovery{}, fmt.Errorf("%w: %s", err, dir)
		}
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: locking %s: %w", dir, err)
	}
	l := &Log{dir: dir, cfg: cfg, dirf: dirf, lock: lockf, acks: make([]uint64, len(cfg.consumers))}
	rec, err := l.recover()
	if err != nil {
		l.release()
		return nil, Recovery{}, err
	}
	return l, rec, nil
}

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

// removeOldest removes the records of the oldest segment, acknowledged or
// not, and appends them to removed; collect deletes the file.
func (l *Log) removeOldest(reason Reason, removed []Removal) []Removal {
	s := l.segs[0]
	return l.removeBelow(s.next(), reason, removed)
}

// removeBelow makes every record below seq not live, and appends those
// that were live to removed.
func (l *Log) removeBelow(seq uint64, reason Reason, removed []Removal) []Removal {
	if seq <= l.first {
		return removed
	}
	from := l.first
	l.first = seq
	l.ledgerChanges++
	for i := range l.acks {
		l.acks[i] = max(l.acks[i], seq)
	}
	if n := len(removed); n > 0 && removed[n-1].Reason == reason && removed[n-1].To == from {
		removed[n-1].To = seq
		return removed
	}
	return append(removed, Removal{From: from, To: seq, Reason: reason})
}

// expire removes the records older than MaxAge at now.
func (l *Log) expire(now int64, removed []Removal) []Removal {
	if l.cfg.maxAge <= 0 {
		return removed
	}
	cutoff := now - int64(l.cfg.maxAge)
	to := l.first
	for _, s := range l.segs {
		i := s.search(to)
		for ; i < len(s.entries) && s.entries[i].time < cutoff; i++ {
			to = s.entries[i].seq + 1
		}
		if i < len(s.entries) {
			break
		}
	}
	if to == l.first {
		return removed
	}
	// Records with a damaged stretch before them: move past the gap too.
	return l.removeBelow(l.nextLiveFrom(to), ReasonMaxAge, removed)
}

// nextLiveFrom returns the sequence number of the first record at or
// after seq, or l.next.
func (l *Log) nextLiveFrom(seq uint64) uint64 {
	for _, s := range l.segs {
		if i := s.search(seq); i < len(s.entries) {
			return s.entries[i].seq
		}
	}
	return max(seq, l.next)
}

// low returns the sequence number below which no consumer needs a
// record: every record below it was acknowledged by all, or removed.
func (l *Log) low() uint64 {
	return max(l.first, slices.Min(l.acks))
}

// collect deletes the segment files no consumer needs: those whose
// records are all below the live range or acknowledged by every consumer,
// and sealed segments with no record. The active segment stays. It
// returns the first error deleting a file; such a segment stays listed,
// and the next collect tries again.
func (l *Log) collect() error {
	limit := l.low()
	var firstErr error
	kept := l.segs[:0]
	for _, s := range l.segs {
		if s == l.active || (s.next() > limit && s.search(l.first) < len(s.entries)) {
			kept = append(kept, s)
			continue
		}
		if s.w != nil {
			s.w.Close()
			s.w = nil
		}
		if err := os.Remove(filepath.Join(l.dir, segmentName(s.first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			if firstErr == nil {
				firstErr = fmt.Errorf("steadylog/segmentlog: deleting segment %s: %w", segmentName(s.first), err)
			}
			kept = append(kept, s)
			continue
		}
		l.bytes -= s.size
		l.dirChanges++
	}
	clear(l.segs[len(kept):])
	l.segs = kept
	if len(l.segs) > 0 {
		l.first = max(l.first, l.nextLiveFrom(l.first))
	} else {
		l.first = l.next
	}
	return firstErr
}

// Ack records that consumer has every record below next (later Acks with
// a smaller next change nothing; a next beyond the last record counts as
// the last record's), and deletes the segment files that no consumer
// needs any more. The position reaches the disk at the next Sync or Close.
func (l *Log) Ack(consumer string, next uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	i := slices.Index(l.cfg.consumers, consumer)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrUnknownConsumer, consumer)
	}
	next = min(next, l.next)
	if next <= l.acks[i] {
		return nil
	}
	l.acks[i] = next
	l.ledgerChanges++
	return l.collect()
}

// Acked returns consumer's acknowledged position: it has every record
// below it. It returns ErrUnknownConsumer for a name not in
// Options.Consumers.
func (l *Log) Acked(consumer string) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.cfg.consumers, consumer)
	if i < 0 {
		return 0, fmt.Errorf("%w: %q", ErrUnknownConsumer, consumer)
	}
	return max(l.acks[i], l.first), nil
}

// Sync makes what was appended and acknowledged so far survive a crash of
// the machine: it fsyncs the segments written since the last Sync, the
// directory if segments were created or deleted, and replaces the ledger
// if a position changed. It waits for the disk without holding the Log's
// mutex: cursors and Ack go on meanwhile (Append waits). On an error
// nothing is lost in memory, and the next Sync tries again.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.sync()
}

// sync does Sync with l.wmu held and l.mu not held. No segment is written
// meanwhile; Ack may delete segments, and closes their write handles.
func (l *Log) sync() error {
	type work struct {
		s    *segment
		w    *os.File
		size int64
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var files []work
	for _, s := range l.segs {
		if s.w != nil && s.dirty {
			files = append(files, work{s, s.w, s.size})
		}
	}
	dirChanges, ledgerChanges, next := l.dirChanges, l.ledgerChanges, l.next
	var ledgerBytes []byte
	if ledgerChanges != l.ledgerSynced || next != l.ledgerNext {
		lg := ledger{first: l.low(), next: next, acks: map[string]uint64{}}
		for i, name := range l.cfg.consumers {
			lg.acks[name] = max(l.acks[i], l.first)
		}
		ledgerBytes = lg.encode(l.cfg.consumers)
	}
	l.mu.Unlock()

	var err error
	for i, f := range files {
		// A handle closed meanwhile belonged to a deleted segment.
		if e := f.w.Sync(); e != nil && !errors.Is(e, os.ErrClosed) {
			err = fmt.Errorf("steadylog/segmentlog: syncing segment %s: %w", segmentName(f.s.first), e)
			files = files[:i]
			break
		}
	}
	dirSynced := err == nil && dirChanges != l.dirSynced
	if dirSynced {
		if e := l.dirf.Sync(); e != nil {
			err = fmt.Errorf("steadylog/segmentlog: syncing directory %s: %w", l.dir, e)
			dirSynced = false
		}
	}
	ledgerWritten := err == nil && ledgerBytes != nil
	if ledgerWritten {
		if e := writeLedger(l.dir, l.dirf, ledgerBytes); e != nil {
			err = e
			ledgerWritten = false
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range files {
		f.s.synced = f.size
		f.s.dirty = f.s.size != f.size
		if f.s.w != nil && f.s != l.active && !f.s.dirty {
			f.s.w.Close()
			f.s.w = nil
		}
	}
	if dirSynced {
		l.dirSynced = dirChanges
	}
	if ledgerWritten {
		l.ledgerSynced, l.ledgerNext = ledgerChanges, next
	}
	return err
}

// Close syncs (see Sync), closes the files and releases the directory's
// lock, even when the sync fails. Cursors return ErrClosed afterwards.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	err := l.sync()
	if errors.Is(err, ErrClosed) {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.release()
	return err
}

// release closes every file the Log holds, which releases the lock.
func (l *Log) release() {
	for _, s := range l.segs {
		if s.w != nil {
			s.w.Close()
			s.w = nil
		}
	}
	l.dirf.Close()
	l.lock.Close()
}

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
