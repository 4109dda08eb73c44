package breaker

import (
	"time"

	"github.com/steadylog/steadylog/retry"
)

// The breaker calls user code in four places: Config.Classify, and the
// Unwrap and As methods errors.As calls on a call's error, outside the lock
// (inspect); Config.OnStateChange, outside the lock (notify.go); and
// Config.Clock and Config.Rand, with the lock held (now and jitterDraw).
//
// None of them may wedge the breaker. A panic is recovered where it
// happens, the breaker finishes the operation with a safe stand-in so that
// its state stays consistent, unlocks, and only then continues the panic in
// the goroutine that called the breaker: a bug in user code stays loud, and
// no other goroutine is left blocked on the lock.

// now reads the Clock; b.mu must be held. If the Clock panics, now returns
// the last time it told (the system time if it never has), so that the
// operation completes on the Clock's own timeline, and leaves the panic in
// b.userPanic for unlockAndNotify to return.
func (b *Breaker) now() time.Time {
	if _, system := b.cfg.Clock.(realClock); system {
		return time.Now() // cannot panic: no guard on the hot path
	}
	return b.guardedNow()
}

func (b *Breaker) guardedNow() (t time.Time) {
	ok := false
	defer func() {
		if ok {
			return
		}
		r := recover()
		if r == nil {
			// runtime.Goexit (t.FailNow in a test's fake clock): this
			// goroutine will not reach the unlock, so unlock here; the state
			// has not been touched yet.
			b.mu.Unlock()
			return
		}
		b.keepPanic(r)
		t = b.lastNow
		if t.IsZero() {
			t = time.Now()
		}
	}()
	t = b.cfg.Clock.Now()
	ok = true
	b.lastNow = t
	return t
}

// jitterDraw returns Rand's draw clamped to [0, 1]; b.mu must be held. If
// Rand panics, the draw is 0 (no jitter: the nominal wait, always a valid
// one) and the panic is kept as in now. A Goexit unlocks as in now; trip
// has changed nothing yet, so the breaker stays in its state until the
// next failure trips it.
func (b *Breaker) jitterDraw() (r float64) {
	ok := false
	defer func() {
		if ok {
			return
		}
		if p := recover(); p != nil {
			b.keepPanic(p)
			r = 0
			return
		}
		b.mu.Unlock()
	}()
	r = b.cfg.Rand()
	ok = true
	if !(r >= 0) { // also NaN
		return 0
	}
	return min(r, 1)
}

// keepPanic records the first panic of user code run under the lock.
func (b *Breaker) keepPanic(p any) {
	if b.userPanic == nil {
		b.userPanic = p
	}
}

// inspect interprets a call's error, outside the lock: its Outcome by
// Config.Classify (a value other than the three Outcomes counts as
// OutcomeIgnored, so that a buggy classifier cannot trip the breaker) and,
// for a failure, the server's delay carried by retry.After, 0 if none.
// Both run user code — the classifier, and the error's own Unwrap and As
// methods — so if either panics, the call is a failure without a delay and
// the panic is returned to be continued.
func (b *Breaker) inspect(err error) (outcome Outcome, delay time.Duration, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			outcome, delay, panicked = OutcomeFailure, 0, r
		}
	}()
	switch outcome = b.cfg.Classify(err); outcome {
	case OutcomeSuccess, OutcomeIgnored:
	case OutcomeFailure:
		if d, ok := retry.Delay(err); ok {
			delay = max(d, 0) // retry.After clamps already; stay safe
		}
	default:
		outcome = OutcomeIgnored
	}
	return outcome, delay, nil
}
