package breaker

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker. It is safe for concurrent use. Create one
// with [New] or [MustNew]; the zero Breaker is not usable.
type Breaker struct {
	cfg Config // defaulted and validated

	mu    sync.Mutex
	state State
	// gen numbers the periods between state changes. An outcome is applied
	// to the state machine only if its call was admitted in the current
	// period, so a slow call admitted before a trip cannot, say, close the
	// breaker from Open.
	gen        uint64
	openUntil  time.Time // while Open: when the breaker half-opens
	tripsInRow int       // trips since the breaker last closed; drives the backoff
	win        window
	probes     int  // HalfOpen: probe calls admitted and not ignored
	early      bool // an early probe (AllowEarly) is in flight
	probesOK   int  // HalfOpen: successful probes
	// HalfOpen with probes in flight: when the breaker stops waiting for
	// them and reopens.
	probeDeadline time.Time
	counts        Counts
	transitions   Transitions // see transitions.go

	// lastNow is the last time the Clock told, the fallback when it panics;
	// userPanic is a panic of Clock or Rand, recovered under the lock and
	// continued by the same goroutine once the lock is released (see
	// usercode.go).
	lastNow   time.Time
	userPanic any

	// State changes waiting to be delivered to OnStateChange, and whether a
	// goroutine is delivering them (see notify.go).
	pending    []transition
	notifying  bool
	onStateChg func(name string, from, to State)
}

// errPanicked is the outcome Execute reports when fn panics.
var errPanicked = errors.New("steadylog/breaker: call panicked")

// New returns a Closed breaker configured by cfg, whose zero fields take
// their documented defaults. If cfg is invalid, New returns the error
// [Config.Validate] returns, and no breaker.
func New(cfg Config) (*Breaker, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Breaker{cfg: c, onStateChg: c.OnStateChange}
	if c.WindowKind == TimeWindow {
		b.win = newTimeWindow(c.WindowDuration)
	} else {
		b.win = newCountWindow(c.WindowSize)
	}
	return b, nil
}

// MustNew is like [New] but panics with New's error if cfg is invalid, for
// a configuration that is a constant of the program, as
// [regexp.MustCompile] is for a constant expression.
func MustNew(cfg Config) *Breaker {
	b, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// Name returns [Config.Name].
func (b *Breaker) Name() string { return b.cfg.Name }

// Allow asks to make one call.
//
// If the breaker admits the call, Allow returns a done function, which the
// caller must call exactly once with the call's error (nil for success);
// the breaker measures the call's duration between Allow and done. Calls of
// done after the first are ignored.
//
// If the breaker refuses the call, Allow returns an [*OpenError] (so
// errors.Is(err, ErrOpen) holds) and a done function that does nothing.
// An Open breaker refuses every call until its wait ends; a HalfOpen breaker
// refuses calls beyond its [Config.HalfOpenMaxCalls] probes. In the latter
// case the breaker cannot know when the probes will finish, and
// OpenError.RetryAt is set OpenTimeout ahead, a reasonable time to look
// again.
//
// If user code run by Allow panics (Clock, Rand, or OnStateChange, see
// their docs), the panic continues out of Allow once the breaker is
// consistent and unlocked. The caller then has no done function, so an
// admitted call is taken back: it counts as ignored, and a probe frees its
// slot.
func (b *Breaker) Allow() (done func(err error), err error) {
	b.mu.Lock()
	now := b.now()
	b.advance(now)
	switch b.state {
	case Open:
		b.counts.Rejected++
		oe := &OpenError{State: Open, RetryAt: b.openUntil}
		b.release()
		return noop, oe
	case HalfOpen:
		if b.probes >= b.cfg.HalfOpenMaxCalls {
			b.counts.Rejected++
			oe := &OpenError{State: HalfOpen, RetryAt: later(now, b.cfg.OpenTimeout)}
			b.release()
			return noop, oe
		}
		if b.probes == 0 {
			b.probeDeadline = later(now, b.cfg.HalfOpenMaxWait)
		}
		b.probes++ // < HalfOpenMaxCalls <= math.MaxInt: cannot overflow
	}
	b.counts.Requests++
	gen := b.gen
	if p := b.unlockAndNotify(); p != nil {
		b.withdraw(gen)
		panic(p)
	}

	var called atomic.Bool
	return func(err error) {
		if called.CompareAndSwap(false, true) {
			b.finish(gen, now, err)
		}
	}, nil
}

func noop(error) {}

// withdraw takes back the admission of a call admitted in period gen whose
// done function never reached the caller, because user code panicked in
// Allow: without it, a probe would hold its slot until HalfOpenMaxWait. The
// call counts as ignored, which keeps Counts.InFlight right. A second panic
// from a callback here is dropped: the first one is already continuing.
func (b *Breaker) withdraw(gen uint64) {
	b.mu.Lock()
	b.counts.Ignored++
	if gen == b.gen && b.state == HalfOpen {
		b.probes--
	}
	_ = b.unlockAndNotify()
}

// Execute runs fn if the breaker admits a call, and reports fn's error to
// the breaker. It returns the [*OpenError] if the call was refused, and
// fn's error otherwise. If fn panics, the call counts as a failure and the
// panic continues.
func (b *Breaker) Execute(fn func() error) error {
	done, err := b.Allow()
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			done(errPanicked)
		}
	}()
	err = fn()
	finished = true
	done(err)
	return err
}

// State returns the current state. An Open breaker whose wait has ended
// reports HalfOpen: the breaker has no timers, it changes state when it is
// looked at.
func (b *Breaker) State() State {
	b.mu.Lock()
	b.advance(b.now())
	s := b.state
	b.release()
	return s
}

// RetryAt returns when the breaker will admit a call: the end of the wait
// when Open; OpenTimeout ahead (as in [Breaker.Allow]) when HalfOpen with
// every probe taken; and the zero time when a call would be admitted now
// (Closed, or HalfOpen with a probe free).
func (b *Breaker) RetryAt() time.Time {
	b.mu.Lock()
	now := b.now()
	b.advance(now)
	var t time.Time
	switch {
	case b.state == Open:
		t = b.openUntil
	case b.state == HalfOpen && b.probes >= b.cfg.HalfOpenMaxCalls:
		t = later(now, b.cfg.OpenTimeout)
	}
	b.release()
	return t
}

// Counts returns a snapshot of the breaker's counters.
func (b *Breaker) Counts() Counts {
	b.mu.Lock()
	b.advance(b.now())
	c := b.counts
	b.release()
	return c
}

// finish applies the outcome of a call admitted in period gen at start.
func (b *Breaker) finish(gen uint64, start time.Time, err error) {
	outcome, delay, panicked := b.inspect(err) // user code: outside the lock

	b.mu.Lock()
	b.apply(gen, start, b.now(), outcome, delay)
	// Continue the first panic, after the call is recorded — as a failure
	// if the classifier panicked — so that a half-open breaker does not
	// wait for ever for this probe.
	if p := b.unlockAndNotify(); panicked == nil {
		panicked = p
	}
	if panicked != nil {
		panic(panicked)
	}
}

// apply records the outcome of a call admitted in period gen at start and
// finished at now; delay is the server's Retry-After (0 if none).
func (b *Breaker) apply(gen uint64, start, now time.Time, outcome Outcome, delay time.Duration) {
	b.advance(now)
	slow := b.count(start, now, outcome)

	if gen != b.gen {
		// A call from an earlier period. Its outcome no longer bears on the
		// state, except that a server asking for a longer pause is heeded.
		if outcome == OutcomeFailure && b.state == Open {
			b.openUntil = maxTime(b.openUntil, later(now, min(delay, b.cfg.MaxOpenTimeout)))
		}
		return
	}

	switch b.state {
	case Closed:
		switch outcome {
		case OutcomeIgnored:
			return
		case OutcomeSuccess:
			b.counts.ConsecutiveSuccesses++
			b.counts.ConsecutiveFailures = 0
		case OutcomeFailure:
			b.counts.ConsecutiveFailures++
			b.counts.ConsecutiveSuccesses = 0
		}
		b.win.record(now, outcome == OutcomeFailure, slow)
		if b.shouldTrip(now) {
			b.trip(now, delay)
		}
	case HalfOpen:
		switch outcome {
		case OutcomeIgnored:
			b.probes-- // the probe told nothing: free its slot for another
		case OutcomeFailure:
			b.trip(now, delay)
		case OutcomeSuccess:
			b.counts.ConsecutiveSuccesses++
			b.probesOK++
			if b.probesOK >= b.cfg.HalfOpenSuccesses {
				b.setState(Closed)
			}
		}
	}
}

// count adds the outcome of a call made from start to now to the counters,
// and reports whether it was slow. b.mu must be held.
func (b *Breaker) count(start, now time.Time, outcome Outcome) (slow bool) {
	slow = outcome != OutcomeIgnored && now.Sub(start) > b.cfg.SlowCallDuration
	switch outcome {
	case OutcomeSuccess:
		b.counts.Successes++
	case OutcomeFailure:
		b.counts.Failures++
	default:
		b.counts.Ignored++
	}
	if slow {
		b.counts.SlowCalls++
	}
	return slow
}

func (b *Breaker) shouldTrip(now time.Time) bool {
	if b.counts.ConsecutiveFailures >= uint64(b.cfg.ConsecutiveFailures) {
		return true
	}
	t := b.win.total(now)
	if t.calls == 0 || t.calls < b.cfg.MinimumCalls {
		return false
	}
	n := float64(t.calls)
	return float64(t.failures)/n >= b.cfg.FailureRateThreshold ||
		float64(t.slow)/n >= b.cfg.SlowCallRateThreshold
}

// trip opens the breaker. delay is the Retry-After of the failure that
// tripped it, 0 if none.
func (b *Breaker) trip(now time.Time, delay time.Duration) {
	// Saturate rather than wrap: past the first few trips the wait sits at
	// MaxOpenTimeout anyway. Nothing is changed before backoff, which calls
	// Rand, has returned.
	n := b.tripsInRow
	if n < math.MaxInt {
		n++
	}
	wait := max(b.backoff(n), min(delay, b.cfg.MaxOpenTimeout))
	b.tripsInRow = n
	b.openUntil = later(now, wait)
	b.counts.Trips++
	b.setState(Open)
}

// backoff returns the Open wait after n trips in a row: OpenTimeout
// multiplied by BackoffMultiplier n-1 times, capped at MaxOpenTimeout, then
// shortened by up to Jitter of itself. The result is in [0, MaxOpenTimeout]
// for every valid Config.
//
// The arithmetic is in float64, and a float64 of 2^63 or more does not
// convert back to a Duration (on amd64 it becomes math.MinInt64, a negative
// wait that half-opened a just-tripped breaker at once when OpenTimeout was
// math.MaxInt64), so every conversion goes through durationUpTo. math.Pow
// rather than a loop keeps the cost constant when BackoffMultiplier is 1
// and the trips in a row grow without bound.
func (b *Breaker) backoff(n int) time.Duration {
	w := b.cfg.OpenTimeout
	if n > 1 {
		grown := float64(w) * math.Pow(b.cfg.BackoffMultiplier, float64(n-1))
		w = max(w, durationUpTo(grown, b.cfg.MaxOpenTimeout))
	}
	return w - durationUpTo(float64(w)*b.cfg.Jitter*b.jitterDraw(), w)
}

// advance makes the lazy, time-driven transitions: from Open to HalfOpen
// once the wait is over, and from HalfOpen back to Open when the probes have
// not reported within HalfOpenMaxWait (a probe that hangs is a backend that
// hangs).
func (b *Breaker) advance(now time.Time) {
	if b.state == Open && !now.Before(b.openUntil) {
		b.setState(HalfOpen)
	}
	if b.state == HalfOpen && b.probes > 0 && !now.Before(b.probeDeadline) {
		b.trip(now, 0)
	}
}

func (b *Breaker) setState(to State) {
	from := b.state
	b.state = to
	b.gen++
	b.transitions.add(from, to)
	b.counts.ConsecutiveFailures, b.counts.ConsecutiveSuccesses = 0, 0
	b.probes, b.probesOK = 0, 0
	if to == Closed {
		b.tripsInRow = 0
		b.win.reset()
		b.openUntil = time.Time{}
	}
	b.enqueue(from, to)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
