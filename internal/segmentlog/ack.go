package segmentlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

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
