package segmentlog

// crash abandons l as a crash of the machine would: the lock is released
// and the files closed without a Sync, the ledger is left as it was, and
// each segment loses what was written after its last fsync (a segment
// never fsynced is left empty, as if its directory entry had survived and
// its data had not).
func (l *Log) crash() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if s.w != nil && s.dirty {
			_ = s.w.Truncate(s.synced)
		}
	}
	l.closed = true
	l.release()
}

// kill abandons l as SIGKILL would: what was written stays, nothing is
// synced, the ledger is left as it was.
func (l *Log) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.release()
}
