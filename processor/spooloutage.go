package processor

import "errors"

// An outage the spool bridges. Without a spool, the retry budget
// (WithRetryMaxElapsed) is what an outage may cost before records are
// dropped: memory cannot hold a long one anyway. With a spool and the
// default budget, the disk holds the backlog, and its bounds
// (WithSpoolMaxBytes, WithSpoolMaxAge) decide what is lost, counted as
// spool_full and spool_age: once the budget is spent, a batch the spool
// holds (or is about to write) stays queued, retried at the backoff's
// ceiling or when a breaker admits a probe, until the backend is back.
// The budget then bounds only how long ForceFlush and Shutdown wait for
// the dead backend. A budget the user gave is a limit on staleness, and
// applies as without a spool.

// ErrQueuedInSpool is wrapped by the error ForceFlush and Shutdown return
// when a destination's outage outlasted its retry budget and its records
// stay in the spool (WithSpool, without WithRetryMaxElapsed): after
// ForceFlush they are still queued, and retried; after Shutdown they are
// left for the next start (Stats.Spool.LeftForNextStart). None of them
// was dropped.
var ErrQueuedInSpool = errors.New("steadylog/processor: the backend is unavailable; records stay queued in the spool")

// keepLocked reports whether the batch in flight, whose export failed
// transiently once the outage's retry budget was spent, stays queued
// rather than being dropped as export_failed: with a spool that bridges
// outages (config.bridgeOutages), it does when the spool holds the batch,
// or is writing and will hold it. A batch that only memory holds because
// the spool cannot write (Stats.Spool.Degraded) is dropped, as without a
// spool. p.mu must be held.
func (d *destination) keepLocked() bool {
	sp := d.p.spoolOn()
	if sp == nil || !d.p.cfg.bridgeOutages {
		return false
	}
	return d.bdisk || !sp.degraded || d.bend <= sp.next
}
