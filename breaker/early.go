package breaker

import (
	"sync/atomic"
	"time"
)

// AllowEarly is [Breaker.Allow] for a caller to whom waiting costs more
// than a call: steadylog's processor asks for it while the backend is
// presumed down and records are being dropped for want of room, so that a
// backend that comes back early is found within the caller's own retry
// backoff rather than at the end of the breaker's wait.
//
// While the breaker is Open, AllowEarly admits one early probe at a time,
// before the wait is over; a second caller meanwhile is refused as Allow
// refuses. In every other state it is Allow. The early probe's outcome:
//
//   - a success half-opens the breaker and counts as a successful probe, so
//     that it closes with HalfOpenSuccesses successes (at once with the
//     default of 1);
//   - a failure leaves the breaker Open with the same wait: an early probe
//     is the caller's choice, not the breaker's schedule, so its failure
//     does not lengthen the backoff (a Retry-After it carries is heeded);
//   - an ignored outcome changes nothing.
//
// The caller decides how often to ask; each early probe is a real call to a
// backend that is probably down, counted in [Counts] like any other.
func (b *Breaker) AllowEarly() (done func(err error), err error) {
	b.mu.Lock()
	now := b.now()
	b.advance(now)
	if b.state != Open || b.early {
		b.release()
		return b.Allow()
	}
	b.early = true
	b.counts.Requests++
	gen := b.gen
	if p := b.unlockAndNotify(); p != nil {
		b.mu.Lock()
		b.early = false
		b.counts.Ignored++
		_ = b.unlockAndNotify()
		panic(p)
	}
	var called atomic.Bool
	return func(err error) {
		if called.CompareAndSwap(false, true) {
			b.finishEarly(gen, now, err)
		}
	}, nil
}

// finishEarly applies the outcome of an early probe admitted while Open in
// period gen at start.
func (b *Breaker) finishEarly(gen uint64, start time.Time, err error) {
	outcome, delay, panicked := b.inspect(err) // user code: outside the lock

	b.mu.Lock()
	b.early = false
	now := b.now()
	b.count(start, now, outcome)
	b.advance(now)
	if gen == b.gen && b.state == Open {
		switch outcome {
		case OutcomeSuccess:
			b.setState(HalfOpen)
			b.counts.ConsecutiveSuccesses++
			b.probesOK++
			if b.probesOK >= b.cfg.HalfOpenSuccesses {
				b.setState(Closed)
			}
		case OutcomeFailure:
			if delay > 0 {
				b.openUntil = maxTime(b.openUntil, later(now, min(delay, b.cfg.MaxOpenTimeout)))
			}
		}
	}
	if p := b.unlockAndNotify(); panicked == nil {
		panicked = p
	}
	if panicked != nil {
		panic(panicked)
	}
}
