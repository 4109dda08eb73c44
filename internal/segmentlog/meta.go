package segmentlog

import (
	"bytes"
	"fmt"
)

// SetMeta sets the metadata written with the ledger at the next Sync or
// Close, which [Open] returns as Recovery.Meta: a few bytes of the
// caller's that must describe the same moment as the positions (the
// processor's spool keeps running counts of records there). The Log does
// not interpret it. SetMeta copies meta; it returns an error for one longer
// than MaxMeta, and ErrClosed after Close.
func (l *Log) SetMeta(meta []byte) error {
	if len(meta) > MaxMeta {
		return fmt.Errorf("steadylog/segmentlog: metadata of %d bytes, the most is %d", len(meta), MaxMeta)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.meta != nil && bytes.Equal(meta, l.meta) {
		return nil
	}
	l.meta = append([]byte{}, meta...)
	l.ledgerChanges++
	return nil
}
