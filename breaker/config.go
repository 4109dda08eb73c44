package breaker

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/steadylog/steadylog/internal/setting"
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

// MaxWindowSize is the largest valid [Config.WindowSize]: 1<<20 calls, a
// ring of 1 MiB (one byte a call), allocated by [New]. WindowSize sizes an
// allocation, so it needs a bound — math.MaxInt could not be allocated, and
// values just below would allocate gigabytes — and a window of a million calls
// is already one that reacts to an outage only after a million calls; a
// longer memory is the job of a TimeWindow, whose memory does not grow with
// its span.
const MaxWindowSize = 1 << 20

// ErrInvalidConfig is the sentinel of every error of [Config.Validate] (and
// so of [New]'s): errors.Is(err, ErrInvalidConfig) holds for each.
var ErrInvalidConfig = errors.New("steadylog/breaker: invalid Config")

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
//
// Every count may be as large as math.MaxInt and every duration as large as
// math.MaxInt64 (about 292 years), except WindowSize, which is at most
// [MaxWindowSize]; the breaker's arithmetic saturates rather than
// overflows. Floats must be finite: NaN and ±Inf are invalid.
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
	// Only for CountWindow. At most [MaxWindowSize] (1<<20), since New
	// allocates a byte for each. Default 100.
	WindowSize int

	// WindowDuration is the span of a TimeWindow; it slides in steps of a
	// tenth of the duration. Only for TimeWindow. Any duration up to
	// math.MaxInt64 is valid; the window's memory is ten buckets whatever
	// the span. The window reads times as Time.UnixNano, so it needs a
	// Clock that tells times between the years 1678 and 2262, as every real
	// clock does; outside that range calls may be miscounted, nothing
	// worse. Default 1 minute.
	WindowDuration time.Duration

	// MinimumCalls is the number of calls the window must hold before the
	// failure rate or the slow-call rate may trip the breaker, so that one
	// failure in the first call does not make a 100% failure rate. For a
	// CountWindow it must not exceed WindowSize (so not MaxWindowSize
	// either). Default 10, or WindowSize if that is smaller.
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
	// before it half-opens. It is also the RetryAt a HalfOpen breaker gives
	// a call it refuses. Any duration up to math.MaxInt64 is valid: a
	// breaker with OpenTimeout math.MaxInt64 stays Open for about 292 years
	// (time.Time saturates at the end of its range rather than wrapping).
	// Default 5 seconds.
	OpenTimeout time.Duration

	// MaxOpenTimeout caps the Open wait, however many times the breaker
	// trips in a row and whatever delay a server requests ([retry.After]:
	// a negative delay counts as none, a huge one as MaxOpenTimeout). It
	// must not be smaller than OpenTimeout. Default 2 minutes, or
	// OpenTimeout if that is larger.
	MaxOpenTimeout time.Duration

	// BackoffMultiplier multiplies the Open wait on each trip that follows
	// a trip without the breaker closing in between (a failed probe). The
	// wait returns to OpenTimeout once the breaker closes. Must be finite
	// and >= 1; 1 keeps the wait constant, and a wait that would grow past
	// MaxOpenTimeout is MaxOpenTimeout. Default 2.
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
	// and the panic continues in the goroutine that called done, after the
	// failure is recorded. The same holds if the error's own Unwrap or As
	// methods panic while the breaker looks for a [retry.After] delay;
	// the failure then carries no delay. Default [DefaultClassify].
	Classify func(err error) Outcome

	// OnStateChange, if set, is called on every state change. Calls are
	// made in order, one at a time, outside the breaker's lock (so the
	// callback may call the breaker), by the goroutine that caused the
	// change or by one that was already delivering notifications; either
	// is inside a call of the breaker's methods (Allow, done, Execute,
	// State...), and the breaker starts no goroutine of its own.
	//
	// If the callback panics, the change counts as delivered, the
	// delivering goroutine goes on delivering the changes queued after it,
	// and then the panic continues in that goroutine, out of the breaker
	// method it was in; the breaker's state is not affected and later
	// changes are delivered as usual. If the method was an Allow that
	// admitted the call, the admission is taken back (see [Breaker.Allow]).
	//
	// While a callback runs, changes made by other goroutines queue up for
	// it. The queue holds 1024 changes; past that, consecutive changes are
	// merged (closed -> open and open -> half-open are delivered as
	// closed -> half-open, a change back to where it started is dropped),
	// so that a callback that blocks cannot make the queue grow without
	// bound. [Breaker.Transitions] counts every change. Default nil.
	OnStateChange func(name string, from, to State)

	// Clock is the source of time. It is called with the breaker's lock
	// held, so it must not call the breaker. If it panics, the breaker uses
	// the last time the Clock told instead (the system time if it never
	// has), finishes the operation so that its state stays consistent,
	// releases its lock, and the panic continues in the goroutine that
	// called the breaker: other goroutines are never left blocked. If it
	// calls runtime.Goexit (t.FailNow in a fake clock), the lock is
	// released too. Default the system clock.
	Clock Clock

	// Rand returns a pseudo-random number in [0, 1) for the jitter; values
	// outside are clamped to [0, 1], NaN to 0. Tests inject a fixed one.
	// Like Clock it is called with the lock held; if it panics, the wait
	// is taken without jitter, the breaker trips as it would have, and the
	// panic continues as Clock's does. Default math/rand/v2's Float64.
	Rand func() float64
}

// Validate reports whether c is valid, with an error naming every
// offending field, its value and the limit it breaks; every such error
// wraps [ErrInvalidConfig]. Zero values are valid: they mean the defaults.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults validates c and returns it with every zero field defaulted.
// The fields are checked one by one first; their relations are checked
// after defaulting, so that a single explicit field that clashes with a
// default is caught too.
func (c Config) withDefaults() (Config, error) {
	errs := setting.NewErrors(ErrInvalidConfig)
	c.checkFields(errs)
	if err := errs.Err(); err != nil {
		return c, err
	}
	c.setDefaults()
	c.checkRelations(errs)
	return c, errs.Err()
}

// checkFields rejects each field's invalid values on its own.
func (c Config) checkFields(errs *setting.Errors) {
	setting.NonNegative(errs, "ConsecutiveFailures", c.ConsecutiveFailures)
	checkRate(errs, "FailureRateThreshold", c.FailureRateThreshold)
	if c.WindowKind != CountWindow && c.WindowKind != TimeWindow {
		errs.Reject("WindowKind(%v): must be CountWindow or TimeWindow", c.WindowKind)
	}
	setting.Between(errs, "WindowSize", c.WindowSize, 0, MaxWindowSize)
	setting.NonNegative(errs, "WindowDuration", c.WindowDuration)
	if c.WindowKind == CountWindow && c.WindowDuration != 0 {
		errs.Reject("WindowDuration(%v): set, but WindowKind is CountWindow; set WindowKind: TimeWindow, or WindowSize", c.WindowDuration)
	}
	if c.WindowKind == TimeWindow && c.WindowSize != 0 {
		errs.Reject("WindowSize(%d): set, but WindowKind is TimeWindow; set WindowKind: CountWindow, or WindowDuration", c.WindowSize)
	}
	setting.NonNegative(errs, "MinimumCalls", c.MinimumCalls)
	setting.NonNegative(errs, "SlowCallDuration", c.SlowCallDuration)
	checkRate(errs, "SlowCallRateThreshold", c.SlowCallRateThreshold)
	setting.NonNegative(errs, "OpenTimeout", c.OpenTimeout)
	setting.NonNegative(errs, "MaxOpenTimeout", c.MaxOpenTimeout)
	if c.BackoffMultiplier != 0 && !(c.BackoffMultiplier >= 1 && c.BackoffMultiplier <= math.MaxFloat64) { // also rejects NaN
		errs.Reject("BackoffMultiplier(%v): must be finite and at least 1 (or 0 for the default)", c.BackoffMultiplier)
	}
	setting.Between(errs, "Jitter", c.Jitter, 0, 1)
	setting.NonNegative(errs, "HalfOpenMaxCalls", c.HalfOpenMaxCalls)
	setting.NonNegative(errs, "HalfOpenSuccesses", c.HalfOpenSuccesses)
	setting.NonNegative(errs, "HalfOpenMaxWait", c.HalfOpenMaxWait)
}

// checkRate rejects a rate outside (0, 1]; 0 means the default.
func checkRate(errs *setting.Errors, field string, r float64) {
	if r != 0 && setting.Positive(errs, field, r) { // a NaN passes Positive and fails Between
		setting.Between(errs, field, r, 0, 1)
	}
}

// setDefaults gives every zero field its default. Some defaults depend on
// other fields: MinimumCalls on WindowSize, MaxOpenTimeout on OpenTimeout,
// HalfOpenSuccesses on HalfOpenMaxCalls.
func (c *Config) setDefaults() {
	orDefault(&c.ConsecutiveFailures, DefaultConsecutiveFailures)
	orDefault(&c.FailureRateThreshold, DefaultFailureRateThreshold)
	if c.WindowKind == CountWindow {
		orDefault(&c.WindowSize, DefaultWindowSize)
		orDefault(&c.MinimumCalls, min(DefaultMinimumCalls, c.WindowSize))
	} else {
		orDefault(&c.WindowDuration, DefaultWindowDuration)
		orDefault(&c.MinimumCalls, DefaultMinimumCalls)
	}
	orDefault(&c.SlowCallDuration, DefaultSlowCallDuration)
	orDefault(&c.SlowCallRateThreshold, DefaultSlowCallRateThreshold)
	orDefault(&c.OpenTimeout, DefaultOpenTimeout)
	orDefault(&c.MaxOpenTimeout, max(DefaultMaxOpenTimeout, c.OpenTimeout))
	orDefault(&c.BackoffMultiplier, DefaultBackoffMultiplier)
	orDefault(&c.Jitter, DefaultJitter)
	orDefault(&c.HalfOpenMaxCalls, DefaultHalfOpenMaxCalls)
	orDefault(&c.HalfOpenSuccesses, c.HalfOpenMaxCalls)
	orDefault(&c.HalfOpenMaxWait, DefaultHalfOpenMaxWait)
	if c.Classify == nil {
		c.Classify = DefaultClassify
	}
	orDefault[Clock](&c.Clock, realClock{})
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// orDefault sets *v to def if *v is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// checkRelations rejects defaulted fields that contradict each other.
func (c Config) checkRelations(errs *setting.Errors) {
	if c.WindowKind == CountWindow && c.MinimumCalls > c.WindowSize {
		errs.Reject("MinimumCalls (%d) exceeds WindowSize (%d): the rate conditions could never trip", c.MinimumCalls, c.WindowSize)
	}
	if c.MaxOpenTimeout < c.OpenTimeout {
		errs.Reject("MaxOpenTimeout (%v) is smaller than OpenTimeout (%v)", c.MaxOpenTimeout, c.OpenTimeout)
	}
	if c.HalfOpenSuccesses > c.HalfOpenMaxCalls {
		errs.Reject("HalfOpenSuccesses (%d) exceeds HalfOpenMaxCalls (%d): the breaker could never close", c.HalfOpenSuccesses, c.HalfOpenMaxCalls)
	}
}
