package segmentlog

import (
	"errors"
	"fmt"
	"os"
)

// Sync makes what was appended and acknowledged so far survive a crash of
// the machine: it fsyncs the segments written since the last Sync, the
// directory if segments were created or deleted, and replaces the ledger
// if a position or the metadata changed. It waits for the disk without
// holding the Log's mutex: cursors and Ack go on meanwhile (Append waits).
// On an error nothing is lost in memory, and the next Sync tries again.
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
		lg := ledger{first: l.low(), next: next, acks: map[string]uint64{}, meta: l.meta}
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
