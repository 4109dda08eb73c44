package breaker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults applied by [New] to the zero fields of a [Config].
const (
	DefaultConsecutiveFailures   = 5
	DefaultFailureRateThreshold  = 0.5
	DefaultWindowSize            = 100
	DefaultWindowDuration        = time.Minute
	DefaultMinimumCalls          = 10
	DefaultSlowCallDuration      = 10 * time.Second
	DefaultSlowCallRateThreshold = 1.0
	DefaultOpenTimeout           = 5 * time.Second
	DefaultMaxOpenTimeout        = 2 * time.Minute
	DefaultBackoffMultiplier     = 2.0
	DefaultJitter                = 0.2
	DefaultHalfOpenMaxCalls      = 1
	DefaultHalfOpenMaxWait       = time.Minute
)

// timeWindowBuckets is the number of buckets a TimeWindow is split into: the
// window slides in steps of WindowDuration/timeWindowBuckets. Buckets keep
// memory constant however many calls a window sees.
const timeWindowBuckets = 10

// Clock tells the time. Tests inject a fake one; the breaker never sleeps or
// starts timers, it reads the clock on each call.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Config configures a [Breaker]. The zero Config is a sane default for an
// exporter of telemetry: every zero field takes the default documented on
// it. Negative values are invalid (see [Config.Validate]); to switch a trip
// condition off in practice, give it an unreachable value (for instance
// ConsecutiveFailures: math.MaxInt).
type Config struct {
	// Name identifies the breaker in [Config.OnStateChange] calls and is
	// free for the caller's telemetry. Default "".
	Name string

	// ConsecutiveFailures trips the breaker after this many failures in a
	// row (successes reset the run; ignored calls do not). Default 5.
	ConsecutiveFailures int

	// FailureRateThreshold trips the breaker when the share of failures in
	// the sliding window reaches it (>=), once the window holds at least
	// MinimumCalls calls. Must be in (0, 1]. Default 0.5.
	FailureRateThreshold float64

	// WindowKind selects a count-based or a time-based sliding window.
	// Default CountWindow.
	WindowKind WindowKind

	// WindowSize is the number of most recent calls a CountWindow holds.
	// Only for CountWindow. Default 100.
	WindowSize int

	// WindowDuration is the span of a TimeWindow; it slides in steps of a
	// tenth of the duration. Only for TimeWindow. Default 1 minute.
	WindowDuration time.Duration

	// MinimumCalls is the number of calls the window must hold before the
	// failure rate or the slow-call rate may trip the breaker, so that one
	// failure in the first call does not make a 100% failure rate. For a
	// CountWindow it must not exceed WindowSize. Default 10.
	MinimumCalls int

	// SlowCallDuration is the duration (measured from Allow to done) above
	// which a call counts as slow, whether it succeeded or failed.
	// Default 10 seconds.
	SlowCallDuration time.Duration

	// SlowCallRateThreshold trips the breaker when the share of slow calls
	// in the window reaches it (>=), once the window holds at least
	// MinimumCalls calls. Must be in (0, 1]. Default 1 (every call slow):
	// a backend that answers, but only ever slowly.
	SlowCallRateThreshold float64

	// OpenTimeout is how long the breaker stays Open after its first trip
	// before it half-opens. Default 5 seconds.
	OpenTimeout time.Duration

	// MaxOpenTimeout caps the Open wait, however many times the breaker
	// trips in a row and whatever delay a server requests. It must not be
	// smaller than OpenTimeout. Default 2 minutes, or OpenTimeout if that
	// is larger.
	MaxOpenTimeout time.Duration

	// BackoffMultiplier multiplies the Open wait on each trip that follows
	// a trip without the breaker closing in between (a failed probe). The
	// wait returns to OpenTimeout once the breaker closes. Must be >= 1;
	// 1 keeps the wait constant. Default 2.
	BackoffMultiplier float64

	// Jitter shortens each Open wait by a random fraction of up to Jitter,
	// so that many clients of one backend do not probe it in lockstep: the
	// wait lies in [w*(1-Jitter), w] for the backed-off wait w. Must be in
	// [0, 1]; 0 means the default, so disable jitter with a Rand that
	// returns 0. Default 0.2.
	Jitter float64

	// HalfOpenMaxCalls is the number of probe calls a HalfOpen breaker
	// admits; further calls are refused until the probes finish. Default 1.
	HalfOpenMaxCalls int

	// HalfOpenSuccesses is the number of successful probes that close the
	// breaker; one failed probe reopens it. It must not exceed
	// HalfOpenMaxCalls. Default HalfOpenMaxCalls.
	HalfOpenSuccesses int

	// HalfOpenMaxWait is the longest a HalfOpen breaker waits for its
	// probes to report, counted from the first probe's admission. When it
	// passes, the breaker reopens (with a longer wait) as if a probe had
	// failed, so that a probe whose caller never calls done — an export
	// that hangs and ignores its context — cannot hold the breaker
	// half-open for ever. The late probes' results are then ignored.
	// Default 1 minute.
	HalfOpenMaxWait time.Duration

	// Classify maps a call's error to its [Outcome]. It is called without
	// the breaker's lock held. A value other than the three Outcomes counts
	// as OutcomeIgnored; if Classify panics, the call counts as a failure
	// and the panic continues in the goroutine that called done. Default
	// [DefaultClassify].
	Classify func(err error) Outcome

	// OnStateChange, if set, is called on every state change. Calls are
	// made in order, one at a time, outside the breaker's lock (so the
	// callback may call the breaker), by the goroutine that caused the
	// change or by one that was already delivering notifications.
	// Default nil.
	OnStateChange func(name string, from, to State)

	// Clock is the source of time. It is called with the breaker's lock
	// held, so it must not call the breaker, and it must not panic.
	// Default the system clock.
	Clock Clock

	// Rand returns a pseudo-random number in [0, 1) for the jitter; values
	// outside are clamped. Tests inject a fixed one. Like Clock it is
	// called with the lock held. Default math/rand/v2's Float64.
	Rand func() float64
}

// Validate reports whether c is valid, with an error naming the first
// offending field. Zero values are valid: they mean the defaults.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

func rateOK(r float64) bool { return r == 0 || (r > 0 && r <= 1) }

// withDefaults validates c and returns it with every zero field defaulted.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("breaker: invalid Config: "+format, args...))
	}
	if c.ConsecutiveFailures < 0 {
		bad("ConsecutiveFailures is %d, must be >= 0", c.ConsecutiveFailures)
	}
	if !rateOK(c.FailureRateThreshold) {
		bad("FailureRateThreshold is %v, must be in (0, 1] (or 0 for the default)", c.FailureRateThreshold)
	}
	if c.WindowKind != CountWindow && c.WindowKind != TimeWindow {
		bad("WindowKind is %v, must be CountWindow or TimeWindow", c.WindowKind)
	}
	if c.WindowSize < 0 {
		bad("WindowSize is %d, must be >= 0", c.WindowSize)
	}
	if c.WindowDuration < 0 {
		bad("WindowDuration is %v, must be >= 0", c.WindowDuration)
	}
	if c.WindowKind == CountWindow && c.WindowDuration != 0 {
		bad("WindowDuration is set (%v) but WindowKind is CountWindow; set WindowKind: TimeWindow or WindowSize", c.WindowDuration)
	}
	if c.WindowKind == TimeWindow && c.WindowSize != 0 {
		bad("WindowSize is set (%d) but WindowKind is TimeWindow; set WindowKind: CountWindow or WindowDuration", c.WindowSize)
	}
	if c.MinimumCalls < 0 {
		bad("MinimumCalls is %d, must be >= 0", c.MinimumCalls)
	}
	if c.SlowCallDuration < 0 {
		bad("SlowCallDuration is %v, must be >= 0", c.SlowCallDuration)
	}
	if !rateOK(c.SlowCallRateThreshold) {
		bad("SlowCallRateThreshold is %v, must be in (0, 1] (or 0 for the default)", c.SlowCallRateThreshold)
	}
	if c.OpenTimeout < 0 {
		bad("OpenTimeout is %v, must be >= 0", c.OpenTimeout)
	}
	if c.MaxOpenTimeout < 0 {
		bad("MaxOpenTimeout is %v, must be >= 0", c.MaxOpenTimeout)
	}
	if c.BackoffMultiplier != 0 && !(c.BackoffMultiplier >= 1) { // also rejects NaN
		bad("BackoffMultiplier is %v, must be >= 1 (or 0 for the default)", c.BackoffMultiplier)
	}
	if !(c.Jitter >= 0 && c.Jitter <= 1) {
		bad("Jitter is %v, must be in [0, 1]", c.Jitter)
	}
	if c.HalfOpenMaxCalls < 0 {
		bad("HalfOpenMaxCalls is %d, must be >= 0", c.HalfOpenMaxCalls)
	}
	if c.HalfOpenSuccesses < 0 {
		bad("HalfOpenSuccesses is %d, must be >= 0", c.HalfOpenSuccesses)
	}
	if c.HalfOpenMaxWait < 0 {
		bad("HalfOpenMaxWait is %v, must be >= 0", c.HalfOpenMaxWait)
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}

	// Defaults.
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if c.FailureRateThreshold == 0 {
		c.FailureRateThreshold = DefaultFailureRateThreshold
	}
	if c.WindowKind == CountWindow && c.WindowSize == 0 {
		c.WindowSize = DefaultWindowSize
	}
	if c.WindowKind == TimeWindow && c.WindowDuration == 0 {
		c.WindowDuration = DefaultWindowDuration
	}
	if c.MinimumCalls == 0 {
		c.MinimumCalls = DefaultMinimumCalls
		if c.WindowKind == CountWindow {
			c.MinimumCalls = min(c.MinimumCalls, c.WindowSize)
		}
	}
	if c.SlowCallDuration == 0 {
		c.SlowCallDuration = DefaultSlowCallDuration
	}
	if c.SlowCallRateThreshold == 0 {
		c.SlowCallRateThreshold = DefaultSlowCallRateThreshold
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.MaxOpenTimeout == 0 {
		c.MaxOpenTimeout = max(DefaultMaxOpenTimeout, c.OpenTimeout)
	}
	if c.BackoffMultiplier == 0 {
		c.BackoffMultiplier = DefaultBackoffMultiplier
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.HalfOpenMaxCalls == 0 {
		c.HalfOpenMaxCalls = DefaultHalfOpenMaxCalls
	}
	if c.HalfOpenSuccesses == 0 {
		c.HalfOpenSuccesses = c.HalfOpenMaxCalls
	}
	if c.HalfOpenMaxWait == 0 {
		c.HalfOpenMaxWait = DefaultHalfOpenMaxWait
	}
	if c.Classify == nil {
		c.Classify = DefaultClassify
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}

	// Relations between fields, checked after defaulting so that a single
	// explicit field that clashes with a default is caught too.
	if c.WindowKind == CountWindow && c.MinimumCalls > c.WindowSize {
		bad("MinimumCalls (%d) exceeds WindowSize (%d): the rate conditions could never trip", c.MinimumCalls, c.WindowSize)
	}
	if c.MaxOpenTimeout < c.OpenTimeout {
		bad("MaxOpenTimeout (%v) is smaller than OpenTimeout (%v)", c.MaxOpenTimeout, c.OpenTimeout)
	}
	if c.HalfOpenSuccesses > c.HalfOpenMaxCalls {
		bad("HalfOpenSuccesses (%d) exceeds HalfOpenMaxCalls (%d): the breaker could never close", c.HalfOpenSuccesses, c.HalfOpenMaxCalls)
	}
	return c, errors.Join(errs...)
}
