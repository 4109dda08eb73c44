package segmentlog

import (
	"fmt"
)

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
