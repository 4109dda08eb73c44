package breaker

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker. It is safe for concurrent use. Create one
// with [New]; the zero Breaker is not usable.
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
	probes     int // HalfOpen: probe calls admitted and not ignored
	probesOK   int // HalfOpen: successful probes
	// HalfOpen with probes in flight: when the breaker stops waiting for
	// them and reopens.
	probeDeadline time.Time
	counts        Counts
	transitions   Transitions // see transitions.go

	// State changes waiting to be delivered to OnStateChange, and whether a
	// goroutine is delivering them (see unlockAndNotify).
	pending    []transition
	notifying  bool
	onStateChg func(name string, from, to State)
}

type transition struct{ from, to State }

// errPanicked is the outcome Execute reports when fn panics.
var errPanicked = errors.New("breaker: call panicked")

// New returns a Closed breaker configured by cfg, whose zero fields take
// their documented defaults.
//
// New panics if cfg is invalid, with the error [Config.Validate] returns, as
// [regexp.MustCompile] does: a breaker's configuration is almost always a
// constant of the program, so a mistake is a programming error. Call
// Validate first to handle a configuration read at run time.
func New(cfg Config) *Breaker {
	c, err := cfg.withDefaults()
	if err != nil {
		panic(err)
	}
	b := &Breaker{cfg: c, onStateChg: c.OnStateChange}
	if c.WindowKind == TimeWindow {
		b.win = newTimeWindow(c.WindowDuration)
	} else {
		b.win = newCountWindow(c.WindowSize)
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
func (b *Breaker) Allow() (done func(err error), err error) {
	b.mu.Lock()
	now := b.cfg.Clock.Now()
	b.advance(now)
	switch b.state {
	case Open:
		b.counts.Rejected++
		oe := &OpenError{State: Open, RetryAt: b.openUntil}
		b.unlockAndNotify()
		return noop, oe
	case HalfOpen:
		if b.probes >= b.cfg.HalfOpenMaxCalls {
			b.counts.Rejected++
			oe := &OpenError{State: HalfOpen, RetryAt: now.Add(b.cfg.OpenTimeout)}
			b.unlockAndNotify()
			return noop, oe
		}
		if b.probes == 0 {
			b.probeDeadline = now.Add(b.cfg.HalfOpenMaxWait)
		}
		b.probes++
	}
	b.counts.Requests++
	gen := b.gen
	b.unlockAndNotify()

	var called atomic.Bool
	return func(err error) {
		if called.CompareAndSwap(false, true) {
			b.finish(gen, now, err)
		}
	}, nil
}

func noop(error) {}

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
	b.advance(b.cfg.Clock.Now())
	s := b.state
	b.unlockAndNotify()
	return s
}

// RetryAt returns when the breaker will admit a call: the end of the wait
// when Open; OpenTimeout ahead (as in [Breaker.Allow]) when HalfOpen with
// every probe taken; and the zero time when a call would be admitted now
// (Closed, or HalfOpen with a probe free).
func (b *Breaker) RetryAt() time.Time {
	b.mu.Lock()
	now := b.cfg.Clock.Now()
	b.advance(now)
	var t time.Time
	switch {
	case b.state == Open:
		t = b.openUntil
	case b.state == HalfOpen && b.probes >= b.cfg.HalfOpenMaxCalls:
		t = now.Add(b.cfg.OpenTimeout)
	}
	b.unlockAndNotify()
	return t
}

// Counts returns a snapshot of the breaker's counters.
func (b *Breaker) Counts() Counts {
	b.mu.Lock()
	b.advance(b.cfg.Clock.Now())
	c := b.counts
	b.unlockAndNotify()
	return c
}

// finish applies the outcome of a call admitted in period gen at start.
func (b *Breaker) finish(gen uint64, start time.Time, err error) {
	outcome, panicked := b.classify(err) // user code: outside the lock
	if panicked != nil {
		// Record the call as a failure before the panic continues, so that a
		// half-open breaker does not wait forever for this probe.
		defer panic(panicked)
	}

	b.mu.Lock()
	defer b.unlockAndNotify()
	now := b.cfg.Clock.Now()
	b.advance(now)

	slow := outcome != OutcomeIgnored && now.Sub(start) > b.cfg.SlowCallDuration
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

	if gen != b.gen {
		// A call from an earlier period. Its outcome no longer bears on the
		// state, except that a server asking for a longer pause is heeded.
		if outcome == OutcomeFailure && b.state == Open {
			if d, ok := RetryAfter(err); ok {
				b.openUntil = maxTime(b.openUntil, now.Add(min(d, b.cfg.MaxOpenTimeout)))
			}
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
			b.trip(now, err)
		}
	case HalfOpen:
		switch outcome {
		case OutcomeIgnored:
			b.probes-- // the probe told nothing: free its slot for another
		case OutcomeFailure:
			b.trip(now, err)
		case OutcomeSuccess:
			b.counts.ConsecutiveSuccesses++
			b.probesOK++
			if b.probesOK >= b.cfg.HalfOpenSuccesses {
				b.setState(Closed)
			}
		}
	}
}

// classify runs Config.Classify. An Outcome outside the three known ones is
// taken as OutcomeIgnored, so that a buggy classifier cannot trip the
// breaker; a panicking one makes the call a failure and the panic is
// returned to be continued.
func (b *Breaker) classify(err error) (outcome Outcome, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			outcome, panicked = OutcomeFailure, r
		}
	}()
	switch o := b.cfg.Classify(err); o {
	case OutcomeSuccess, OutcomeFailure, OutcomeIgnored:
		return o, nil
	default:
		return OutcomeIgnored, nil
	}
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

// trip opens the breaker. cause is the error of the call that tripped it.
func (b *Breaker) trip(now time.Time, cause error) {
	b.tripsInRow++
	wait := b.backoff(b.tripsInRow)
	if d, ok := RetryAfter(cause); ok {
		wait = max(wait, min(d, b.cfg.MaxOpenTimeout))
	}
	b.openUntil = now.Add(wait)
	b.counts.Trips++
	b.setState(Open)
}

// backoff returns the Open wait after n trips in a row: OpenTimeout
// multiplied by BackoffMultiplier n-1 times, capped at MaxOpenTimeout, then
// shortened by up to Jitter of itself.
func (b *Breaker) backoff(n int) time.Duration {
	d := float64(b.cfg.OpenTimeout)
	limit := float64(b.cfg.MaxOpenTimeout)
	for i := 1; i < n && d < limit; i++ {
		d *= b.cfg.BackoffMultiplier
	}
	d = min(d, limit)
	r := b.cfg.Rand()
	if !(r >= 0) { // also NaN
		r = 0
	}
	r = min(r, 1)
	return time.Duration(d * (1 - b.cfg.Jitter*r))
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
		b.trip(now, nil)
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
	if b.onStateChg != nil {
		b.pending = append(b.pending, transition{from, to})
	}
}

// unlockAndNotify releases b.mu and delivers pending state changes.
//
// Callbacks run outside the lock, so they may call the breaker. To keep them
// in order and one at a time, one goroutine at a time delivers: a goroutine
// that finds another already delivering leaves its changes in the queue for
// that one (this also covers a callback that itself causes a change).
func (b *Breaker) unlockAndNotify() {
	if b.notifying || len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	b.notifying = true
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()

	delivered := false
	defer func() {
		if !delivered { // a callback panicked: let the next goroutine deliver
			b.mu.Lock()
			b.notifying = false
			b.mu.Unlock()
		}
	}()
	for {
		for len(batch) > 0 {
			t := batch[0]
			batch = batch[1:]
			b.onStateChg(b.cfg.Name, t.from, t.to)
		}
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.notifying = false
			b.mu.Unlock()
			delivered = true
			return
		}
		batch = b.pending
		b.pending = nil
		b.mu.Unlock()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
