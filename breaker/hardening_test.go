package breaker_test

import (
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/retry"
)

// Tests of the breaker at the edges of its input: extreme configurations,
// extreme server delays, and user code (Clock, Rand, OnStateChange) that
// panics or exits.

var errDown = errors.New("backend down")

// clockStart is where the fake clocks of these tests start.
var clockStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func zeroDraw() float64 { return 0 }

func fail() error { return errDown }

// century is a wait no sane configuration reaches: a RetryAt further away
// than this came from a huge duration, not from a wrapped one.
const century = 100 * 365 * 24 * time.Hour

// refusedOpen asserts that b refuses a call because it is Open, and returns
// the refusal's RetryAt.
func refusedOpen(t *testing.T, b *breaker.Breaker) time.Time {
	t.Helper()
	done, err := b.Allow()
	require.Error(t, err, "an Open breaker admitted a call")
	done(nil) // the refusal's done does nothing
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, breaker.Open, oe.State)
	return oe.RetryAt
}

func TestHugeOpenTimeoutStaysOpen(t *testing.T) {
	for name, cfg := range map[string]breaker.Config{
		"OpenTimeout MaxInt64":             {OpenTimeout: math.MaxInt64},
		"both MaxInt64":                    {OpenTimeout: math.MaxInt64, MaxOpenTimeout: math.MaxInt64},
		"MaxInt64, default jitter":         {OpenTimeout: math.MaxInt64, Rand: func() float64 { return 0.999 }},
		"MaxInt64, half jitter, full draw": {OpenTimeout: math.MaxInt64, Jitter: 0.5, Rand: func() float64 { return 1 }},
		"2^62, doubled past the cap":       {OpenTimeout: 1 << 62, MaxOpenTimeout: math.MaxInt64},
	} {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(clockStart)
			cfg.ConsecutiveFailures, cfg.Clock = 1, clk
			if cfg.Rand == nil {
				cfg.Rand = zeroDraw
			}
			b := breaker.MustNew(cfg)
			for trip := 1; trip <= 3; trip++ {
				require.ErrorIs(t, b.Execute(fail), errDown)
				require.Equal(t, breaker.Open, b.State(), "trip %d: a just-tripped breaker must be Open", trip)
				retryAt := refusedOpen(t, b)
				assert.Equal(t, b.RetryAt(), retryAt)
				assert.True(t, retryAt.After(clk.Now().Add(century)), "trip %d: RetryAt %v is not far ahead", trip, retryAt)
				clk.Advance(retryAt.Sub(clk.Now()))
				require.Equal(t, breaker.HalfOpen, b.State(), "trip %d: the wait ends at RetryAt", trip)
			}
		})
	}
}

func TestBackoffGrowsToCapWithExtremeMultipliers(t *testing.T) {
	for _, m := range []float64{1, 1 + 1e-12, 1.5, 1e300, math.MaxFloat64} {
		clk := clock.NewFake(clockStart)
		b := breaker.MustNew(breaker.Config{
			ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: math.MaxInt64,
			BackoffMultiplier: m, Clock: clk, Rand: zeroDraw,
		})
		prev := time.Duration(0)
		for trip := range 200 {
			require.ErrorIs(t, b.Execute(fail), errDown)
			wait := b.RetryAt().Sub(clk.Now())
			require.GreaterOrEqual(t, wait, prev, "multiplier %v, trip %d: the wait shrank", m, trip)
			require.Positive(t, wait)
			prev = wait
			clk.Advance(wait)
		}
		if m >= 1.5 {
			assert.Equal(t, time.Duration(math.MaxInt64), prev, "multiplier %v reaches the cap", m)
		}
	}
}

func TestExtremeRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxOpen  time.Duration
		delay    time.Duration
		wantWait time.Duration
	}{
		{"huge, default cap", 0, math.MaxInt64, breaker.DefaultMaxOpenTimeout},
		{"huge, huge cap", math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{"negative", 0, math.MinInt64, time.Second},
		{"minus one", 0, -1, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(clockStart)
			cfg := breaker.Config{
				ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: tc.maxOpen,
				Clock: clk, Rand: zeroDraw,
			}
			b := breaker.MustNew(cfg)
			require.Error(t, b.Execute(func() error { return retry.After(errDown, tc.delay) }))
			assert.Equal(t, tc.wantWait, refusedOpen(t, b).Sub(clk.Now()), "tripping call")

			// The same delay on a call admitted before the trip and
			// finished after it.
			b = breaker.MustNew(cfg)
			late, err := b.Allow()
			require.NoError(t, err)
			require.Error(t, b.Execute(fail))
			late(retry.After(errDown, tc.delay))
			assert.Equal(t, max(tc.wantWait, time.Second), refusedOpen(t, b).Sub(clk.Now()), "late call")
		})
	}
}

func TestValidateRejectsUnboundedOrNonFiniteValues(t *testing.T) {
	for _, tc := range []struct {
		cfg  breaker.Config
		want string
	}{
		{breaker.Config{WindowSize: breaker.MaxWindowSize + 1}, "WindowSize(1048577): must be within [0, 1048576]"},
		{breaker.Config{WindowSize: math.MaxInt}, "WindowSize(9223372036854775807): must be within [0, 1048576]"},
		{breaker.Config{BackoffMultiplier: math.Inf(1)}, "BackoffMultiplier(+Inf): must be finite"},
		{breaker.Config{BackoffMultiplier: math.NaN()}, "BackoffMultiplier(NaN)"},
		{breaker.Config{FailureRateThreshold: math.Inf(1)}, "FailureRateThreshold(+Inf)"},
		{breaker.Config{SlowCallRateThreshold: math.NaN()}, "SlowCallRateThreshold(NaN)"},
		{breaker.Config{Jitter: math.Inf(-1)}, "Jitter(-Inf)"},
		{breaker.Config{Jitter: math.NaN()}, "Jitter(NaN)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := tc.cfg.Validate()
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "steadylog/breaker: invalid Config: "+tc.want)
			assert.PanicsWithError(t, err.Error(), func() { breaker.MustNew(tc.cfg) })
		})
	}
}

func TestExtremeValidConfigs(t *testing.T) {
	const maxD = time.Duration(math.MaxInt64)
	for name, cfg := range map[string]breaker.Config{
		"largest count window": {
			ConsecutiveFailures: math.MaxInt, WindowSize: breaker.MaxWindowSize, MinimumCalls: breaker.MaxWindowSize,
		},
		"every count and duration at its maximum": {
			ConsecutiveFailures: math.MaxInt, WindowKind: breaker.TimeWindow, WindowDuration: maxD,
			MinimumCalls: math.MaxInt, SlowCallDuration: maxD, OpenTimeout: maxD, MaxOpenTimeout: maxD,
			BackoffMultiplier: math.MaxFloat64, HalfOpenMaxCalls: math.MaxInt, HalfOpenSuccesses: math.MaxInt,
			HalfOpenMaxWait: maxD,
		},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, cfg.Validate())
			cfg.Clock = clock.NewFake(clockStart)
			b := breaker.MustNew(cfg)
			for range 10 {
				require.ErrorIs(t, b.Execute(fail), errDown)
			}
			assert.Equal(t, breaker.Closed, b.State(), "no trip condition is reachable")
		})
	}
}

// A 10 ns TimeWindow has 1 ns buckets, so its epochs are the clock's
// nanoseconds, as far from 1970 as Time.UnixNano goes.
func TestTimeWindowAtClockExtremes(t *testing.T) {
	for name, start := range map[string]time.Time{
		"earliest UnixNano": time.Unix(0, math.MinInt64),
		"latest UnixNano":   time.Unix(0, math.MaxInt64-100),
		"before 1970":       time.Unix(-1, 0),
	} {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(start)
			b := breaker.MustNew(breaker.Config{
				ConsecutiveFailures: math.MaxInt, WindowKind: breaker.TimeWindow, WindowDuration: 10,
				MinimumCalls: 3, Clock: clk, Rand: zeroDraw,
			})
			for range 3 {
				require.ErrorIs(t, b.Execute(fail), errDown)
			}
			assert.Equal(t, breaker.Open, b.State(), "three failures in the window trip it")
		})
	}
}

// Buckets are numbered by rounding down, so the one holding 1969-12-31
// 23:59:59.5 ends at 1970 and has left a 10 s window by 00:00:09.5.
func TestTimeWindowBucketsBefore1970(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, -int64(500*time.Millisecond)))
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: math.MaxInt, WindowKind: breaker.TimeWindow, WindowDuration: 10 * time.Second,
		MinimumCalls: 2, Clock: clk, Rand: zeroDraw,
	})
	require.ErrorIs(t, b.Execute(fail), errDown)
	clk.Advance(10 * time.Second)
	require.NoError(t, b.Execute(func() error { return nil }))
	assert.Equal(t, breaker.Closed, b.State(), "the failure has left the window: one call, below MinimumCalls")
	require.ErrorIs(t, b.Execute(fail), errDown)
	assert.Equal(t, breaker.Open, b.State(), "one failure in two calls")
}

// ending is how a function run by inGoroutine ended.
type ending struct {
	returned bool // normally, rather than by panic or runtime.Goexit
	panicked any
}

// inGoroutine runs fn in a goroutine of its own, as an unrelated caller of
// the breaker, and waits a bounded time for it to end: a wedged breaker
// fails the test instead of hanging it.
func inGoroutine(t *testing.T, fn func()) ending {
	t.Helper()
	ch := make(chan ending, 1)
	go func() {
		var e ending
		defer func() {
			if !e.returned {
				e.panicked = recover()
			}
			ch <- e
		}()
		fn()
		e.returned = true
	}()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("the breaker is wedged: a call did not return")
		return ending{}
	}
}

// stillWorks asserts that another goroutine can use b: a call is admitted
// and reported, and b is in state want afterwards.
func stillWorks(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	var err error
	e := inGoroutine(t, func() { err = b.Execute(func() error { return nil }) })
	require.True(t, e.returned, "panicked: %v", e.panicked)
	require.NoError(t, err)
	assert.Equal(t, want, b.State())
}

// trapClock wraps a FakeClock; armed, its next reading panics or exits.
type trapClock struct {
	clk  *clock.Fake
	trap atomic.Int32 // trapNone, trapPanic or trapGoexit, for the next reading only
}

const (
	trapNone int32 = iota
	trapPanic
	trapGoexit
)

func (c *trapClock) Now() time.Time {
	switch c.trap.Swap(trapNone) {
	case trapPanic:
		panic("clock bug")
	case trapGoexit:
		runtime.Goexit()
	}
	return c.clk.Now()
}

func TestPanickingClockDoesNotWedge(t *testing.T) {
	clk := &trapClock{clk: clock.NewFake(clockStart)}
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: zeroDraw})

	for _, method := range []func(){
		func() { _, _ = b.Allow() },
		func() { _ = b.State() },
		func() { _ = b.RetryAt() },
		func() { _ = b.Counts() },
		func() { _ = b.Transitions() },
	} {
		clk.trap.Store(trapPanic)
		e := inGoroutine(t, method)
		require.Equal(t, "clock bug", e.panicked, "the panic continues in the caller")
	}
	c := b.Counts()
	assert.Equal(t, uint64(1), c.Requests, "the Allow whose clock panicked was admitted...")
	assert.Equal(t, uint64(1), c.Ignored, "...and taken back")
	assert.Zero(t, c.InFlight())
	stillWorks(t, b, breaker.Closed)

	// In done, the call is still recorded, at the last time the clock told.
	done, err := b.Allow()
	require.NoError(t, err)
	clk.trap.Store(trapPanic)
	e := inGoroutine(t, func() { done(errDown) })
	require.Equal(t, "clock bug", e.panicked)
	assert.Equal(t, breaker.Open, b.State(), "the failure counted and tripped the breaker")
	assert.Equal(t, clk.clk.Now().Add(time.Second), b.RetryAt())
	assert.Zero(t, b.Counts().InFlight())
	clk.clk.Advance(time.Second)
	stillWorks(t, b, breaker.Closed)
}

func TestExitingClockDoesNotWedge(t *testing.T) {
	clk := &trapClock{clk: clock.NewFake(clockStart)}
	b := breaker.MustNew(breaker.Config{Clock: clk})
	clk.trap.Store(trapGoexit)
	e := inGoroutine(t, func() { _ = b.State() })
	require.False(t, e.returned)
	require.Nil(t, e.panicked, "runtime.Goexit, not a panic")
	stillWorks(t, b, breaker.Closed)
}

func TestPanickingRandStillTrips(t *testing.T) {
	clk := clock.NewFake(clockStart)
	var trap atomic.Bool
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk,
		Rand: func() float64 {
			if trap.Swap(false) {
				panic("rand bug")
			}
			return 0.5
		},
	})
	trap.Store(true)
	e := inGoroutine(t, func() { _ = b.Execute(fail) })
	require.Equal(t, "rand bug", e.panicked, "the panic continues in the caller")

	// Another goroutine finds the breaker Open, with the wait unjittered.
	var retryAt time.Time
	e = inGoroutine(t, func() { retryAt = refusedOpen(t, b) })
	require.True(t, e.returned)
	assert.Equal(t, clk.Now().Add(time.Second), retryAt)
	clk.Advance(time.Second)
	stillWorks(t, b, breaker.Closed)
}

func TestPanickingOnStateChangeInAllowFreesTheProbe(t *testing.T) {
	clk := clock.NewFake(clockStart)
	var trap atomic.Bool
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenMaxWait: time.Hour, Clock: clk, Rand: zeroDraw,
		OnStateChange: func(_ string, _, to breaker.State) {
			if to == breaker.HalfOpen && trap.Swap(false) {
				panic("callback bug")
			}
		},
	})
	require.ErrorIs(t, b.Execute(fail), errDown)
	clk.Advance(time.Second)
	trap.Store(true)
	// Allow half-opens the breaker, admits this call as the only probe, and
	// then delivers the change, which panics: the caller never gets done.
	e := inGoroutine(t, func() { _, _ = b.Allow() })
	require.Equal(t, "callback bug", e.panicked)
	assert.Zero(t, b.Counts().InFlight(), "the admission was taken back")
	stillWorks(t, b, breaker.Closed) // the probe slot is free: no wait for HalfOpenMaxWait
}

func TestPanickingOnStateChangeKeepsTheQueueGoing(t *testing.T) {
	clk := clock.NewFake(clockStart)
	var mu sync.Mutex
	var got []string
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	first.Store(true)
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: zeroDraw,
		OnStateChange: func(_ string, from, to breaker.State) {
			mu.Lock()
			got = append(got, from.String()+"->"+to.String())
			mu.Unlock()
			if first.Swap(false) {
				close(entered)
				<-release
			}
			if to == breaker.HalfOpen {
				panic("callback bug")
			}
		},
	})

	// G1 trips the breaker and blocks delivering closed -> open.
	g1 := make(chan ending, 1)
	go func() { g1 <- inGoroutine(t, func() { _ = b.Execute(fail) }) }()
	<-entered
	// Meanwhile two more changes queue up for G1: open -> half-open, whose
	// callback panics, and half-open -> closed.
	clk.Advance(time.Second)
	require.Equal(t, breaker.HalfOpen, b.State())
	require.NoError(t, b.Execute(func() error { return nil }))
	close(release)

	e := <-g1
	assert.Equal(t, "callback bug", e.panicked, "the panic continues in the goroutine that delivered it")
	mu.Lock()
	assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, got,
		"the change after the panicking one is delivered too")
	mu.Unlock()
	stillWorks(t, b, breaker.Closed)
}

func TestExitingOnStateChangeKeepsTheQueueGoing(t *testing.T) {
	clk := clock.NewFake(clockStart)
	var mu sync.Mutex
	var got []string
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: zeroDraw,
		OnStateChange: func(_ string, from, to breaker.State) {
			if to == breaker.Open {
				runtime.Goexit()
			}
			mu.Lock()
			got = append(got, from.String()+"->"+to.String())
			mu.Unlock()
		},
	})
	e := inGoroutine(t, func() { _ = b.Execute(fail) })
	require.False(t, e.returned)
	assert.Equal(t, breaker.Open, b.State())
	clk.Advance(time.Second)
	stillWorks(t, b, breaker.Closed)
	mu.Lock()
	assert.Equal(t, []string{"open->half-open", "half-open->closed"}, got)
	mu.Unlock()
}

// A callback that blocks while other goroutines keep changing the state
// must not make the queue of changes grow without bound.
func TestBlockedOnStateChangeQueueIsBounded(t *testing.T) {
	clk := clock.NewFake(clockStart)
	type change struct{ from, to breaker.State }
	var got []change // written only by the delivering goroutine, read after it ends
	entered, release := make(chan struct{}), make(chan struct{})
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: zeroDraw,
		OnStateChange: func(_ string, from, to breaker.State) {
			got = append(got, change{from, to})
			if len(got) == 1 {
				close(entered)
				<-release
			}
		},
	})
	g1 := make(chan ending, 1)
	go func() { g1 <- inGoroutine(t, func() { _ = b.Execute(fail) }) }()
	<-entered

	const cycles = 2000 // 3 changes each: open -> half-open -> closed -> open
	for range cycles {
		clk.Advance(time.Second)
		require.NoError(t, b.Execute(func() error { return nil }))
		require.ErrorIs(t, b.Execute(fail), errDown)
	}
	close(release)
	require.True(t, (<-g1).returned)

	assert.Equal(t, uint64(1+3*cycles), b.Transitions().Total(), "every change is counted")
	assert.LessOrEqual(t, len(got), 1+1024, "the queue is bounded")
	assert.Greater(t, len(got), 1000)
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[i-1].to, got[i].from, "change %d does not start where %d ended", i, i-1)
		require.NotEqual(t, got[i].from, got[i].to)
	}
	assert.Equal(t, b.State(), got[len(got)-1].to, "the last change delivered ends in the current state")
}

// FuzzConfig checks that every Config is either rejected by Validate (and
// then New panics with the same error) or gives a breaker that trips into
// an Open state it does not leave before RetryAt, however extreme the
// values: RetryAt is never in the past, the wait never exceeds
// MaxOpenTimeout, and a call before RetryAt is refused.
func FuzzConfig(f *testing.F) {
	const maxI64, minI64 = math.MaxInt64, math.MinInt64
	nan, inf := math.NaN(), math.Inf(1)
	type seed struct {
		consecutive                      int
		failureRate                      float64
		timeWindow                       bool
		windowSize                       int
		windowDuration                   int64
		minimumCalls                     int
		slowCallDuration                 int64
		slowRate                         float64
		openTimeout, maxOpenTimeout      int64
		multiplier, jitter               float64
		halfOpenCalls, halfOpenSuccesses int
		halfOpenMaxWait                  int64
		draw                             float64
		retryAfter, start                int64
	}
	for _, s := range []seed{
		{},
		{consecutive: 1},
		{consecutive: 1, openTimeout: maxI64},
		{consecutive: 1, openTimeout: maxI64, maxOpenTimeout: maxI64, multiplier: math.MaxFloat64, jitter: 1, draw: 0.999},
		{consecutive: 1, openTimeout: 1 << 62, maxOpenTimeout: maxI64, draw: inf},
		{consecutive: 1, retryAfter: maxI64, maxOpenTimeout: maxI64},
		{consecutive: 1, retryAfter: minI64, draw: nan},
		{consecutive: maxI64, minimumCalls: 3, timeWindow: true, windowDuration: 10, start: minI64},
		{consecutive: maxI64, minimumCalls: 3, timeWindow: true, windowDuration: maxI64, start: maxI64},
		{consecutive: 2, windowSize: maxI64},
		{consecutive: 2, windowSize: 1<<20 + 1},
		{consecutive: 3, windowSize: 1 << 20, minimumCalls: 2},
		{consecutive: minI64, openTimeout: minI64, maxOpenTimeout: minI64, halfOpenMaxWait: minI64},
		{failureRate: nan, slowRate: inf, multiplier: inf, jitter: nan},
		{failureRate: inf, multiplier: nan, jitter: -inf},
		{consecutive: 1, halfOpenCalls: maxI64, halfOpenSuccesses: maxI64, halfOpenMaxWait: maxI64, slowCallDuration: maxI64},
		{consecutive: 1, halfOpenCalls: 3, halfOpenSuccesses: 2, halfOpenMaxWait: 1, openTimeout: 1, multiplier: 1},
	} {
		f.Add(s.consecutive, s.failureRate, s.timeWindow, s.windowSize, s.windowDuration, s.minimumCalls,
			s.slowCallDuration, s.slowRate, s.openTimeout, s.maxOpenTimeout, s.multiplier, s.jitter,
			s.halfOpenCalls, s.halfOpenSuccesses, s.halfOpenMaxWait, s.draw, s.retryAfter, s.start)
	}
	f.Fuzz(func(t *testing.T, consecutive int, failureRate float64, timeWindow bool, windowSize int,
		windowDuration int64, minimumCalls int, slowCallDuration int64, slowRate float64,
		openTimeout, maxOpenTimeout int64, multiplier, jitter float64,
		halfOpenCalls, halfOpenSuccesses int, halfOpenMaxWait int64, draw float64, retryAfter, start int64,
	) {
		clk := clock.NewFake(time.Unix(0, start))
		cfg := breaker.Config{
			ConsecutiveFailures: consecutive, FailureRateThreshold: failureRate,
			WindowSize: windowSize, WindowDuration: time.Duration(windowDuration), MinimumCalls: minimumCalls,
			SlowCallDuration: time.Duration(slowCallDuration), SlowCallRateThreshold: slowRate,
			OpenTimeout: time.Duration(openTimeout), MaxOpenTimeout: time.Duration(maxOpenTimeout),
			BackoffMultiplier: multiplier, Jitter: jitter,
			HalfOpenMaxCalls: halfOpenCalls, HalfOpenSuccesses: halfOpenSuccesses,
			HalfOpenMaxWait: time.Duration(halfOpenMaxWait),
			Clock:           clk, Rand: func() float64 { return draw },
		}
		if timeWindow {
			cfg.WindowKind = breaker.TimeWindow
		}
		if err := cfg.Validate(); err != nil {
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			require.PanicsWithError(t, err.Error(), func() { breaker.MustNew(cfg) })
			return
		}
		b := breaker.MustNew(cfg)

		// The defaults, to know how many failures trip the breaker and how
		// long it may stay open. Every call fails at once, so the failure
		// rate is 1, none is slow, and the window holds every call.
		or := func(v, def int) int {
			if v == 0 {
				return def
			}
			return v
		}
		orD := func(v int64, def time.Duration) time.Duration {
			if v == 0 {
				return def
			}
			return time.Duration(v)
		}
		minCalls := or(minimumCalls, breaker.DefaultMinimumCalls)
		if !timeWindow && minimumCalls == 0 {
			minCalls = min(minCalls, or(windowSize, breaker.DefaultWindowSize))
		}
		toTrip := min(or(consecutive, breaker.DefaultConsecutiveFailures), minCalls)
		openT := orD(openTimeout, breaker.DefaultOpenTimeout)
		maxOpen := orD(maxOpenTimeout, max(breaker.DefaultMaxOpenTimeout, openT))
		halfOpenWait := orD(halfOpenMaxWait, breaker.DefaultHalfOpenMaxWait)
		const maxCalls = 300 // keep each run fast
		if toTrip > maxCalls {
			require.ErrorIs(t, b.Execute(fail), errDown)
			return
		}
		serverDelay := min(max(time.Duration(retryAfter), 0), maxOpen)
		failWithDelay := func() error { return retry.After(errDown, time.Duration(retryAfter)) }

		// checkOpen asserts the breaker just tripped for the trips-th time
		// correctly, and returns its wait.
		checkOpen := func(trips uint64, delay time.Duration) time.Duration {
			t.Helper()
			require.Equal(t, trips, b.Counts().Trips)
			now := clk.Now()
			retryAt := b.RetryAt()
			if retryAt.IsZero() {
				// Jitter 1 with a draw of 1 makes a zero wait.
				require.Equal(t, breaker.HalfOpen, b.State(), "trip %d: RetryAt is zero but a call is refused", trips)
				require.Zero(t, delay, "trip %d: the server's delay is not heeded", trips)
				return 0
			}
			require.False(t, retryAt.Before(now), "trip %d: RetryAt %v is before now %v", trips, retryAt, now)
			wait := retryAt.Sub(now)
			require.LessOrEqual(t, wait, maxOpen, "trip %d: the wait exceeds MaxOpenTimeout", trips)
			require.GreaterOrEqual(t, wait, delay, "trip %d: the server's delay is not heeded", trips)
			require.Equal(t, breaker.Open, b.State(), "trip %d", trips)
			require.True(t, refusedOpen(t, b).Equal(retryAt))
			return wait
		}

		// First trip, by failures carrying the server's delay.
		for i := range toTrip {
			require.Equal(t, breaker.Closed, b.State(), "tripped after %d of %d failures", i, toTrip)
			require.ErrorIs(t, b.Execute(failWithDelay), errDown)
		}
		wait := checkOpen(1, serverDelay)
		// The jittered wait lies in [w*(1-Jitter*r), w], for the clamped
		// draw r; the server's delay may only lengthen it.
		j, r := jitter, min(max(draw, 0), 1) // NaN gives 0 too
		if math.IsNaN(draw) {
			r = 0
		}
		if j == 0 {
			j = breaker.DefaultJitter
		}
		require.LessOrEqual(t, wait, max(openT, serverDelay))
		require.GreaterOrEqual(t, float64(wait), float64(openT)*(1-j*r)*(1-1e-9)-1)

		// Failed probes: reopen with a backed-off wait, which without
		// jitter never shrinks (the first one may have been the server's).
		backedOff := openT
		for trip := uint64(2); trip <= 4; trip++ {
			clk.Advance(wait)
			require.Equal(t, breaker.HalfOpen, b.State())
			require.ErrorIs(t, b.Execute(fail), errDown)
			wait = checkOpen(trip, 0)
			if r == 0 {
				require.GreaterOrEqual(t, wait, backedOff, "trip %d: the wait shrank", trip)
				backedOff = wait
			}
		}

		// A probe that never reports reopens the breaker.
		clk.Advance(wait)
		require.Equal(t, breaker.HalfOpen, b.State())
		hung, err := b.Allow()
		require.NoError(t, err)
		clk.Advance(halfOpenWait)
		wait = checkOpen(5, 0)
		hung(nil) // too late, ignored
		if or(halfOpenSuccesses, or(halfOpenCalls, breaker.DefaultHalfOpenMaxCalls)) > maxCalls {
			return
		}

		// Close it, then trip it again far from where the clock started.
		clk.Advance(wait)
		for i := 0; b.State() != breaker.Closed; i++ {
			require.Less(t, i, maxCalls, "HalfOpenSuccesses successful probes must close the breaker")
			require.NoError(t, b.Execute(func() error { return nil }))
		}
		for range toTrip {
			require.ErrorIs(t, b.Execute(failWithDelay), errDown)
		}
		checkOpen(6, serverDelay)
		require.Zero(t, b.Counts().InFlight())
	})
}

// panickyError is an error whose Unwrap panics, as errors.As calls it.
type panickyError struct{}

func (panickyError) Error() string { return "panicky" }
func (panickyError) Unwrap() error { panic("unwrap bug") }

func TestPanickingErrorUnwrapCountsAsFailure(t *testing.T) {
	clk := clock.NewFake(clockStart)
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: zeroDraw,
		Classify: func(err error) breaker.Outcome { // does not unwrap
			if err == nil {
				return breaker.OutcomeSuccess
			}
			return breaker.OutcomeFailure
		},
	})
	// Looking for a Retry-After delay unwraps the error.
	e := inGoroutine(t, func() { _ = b.Execute(func() error { return panickyError{} }) })
	require.Equal(t, "unwrap bug", e.panicked)
	assert.Equal(t, clk.Now().Add(time.Second), refusedOpen(t, b), "a failure without a delay, first trip")
	clk.Advance(time.Second)
	stillWorks(t, b, breaker.Closed)
}

// At the last instant time.Time can hold, Add saturates and may carry the
// nanoseconds backwards; a RetryAt must still not be in the past.
func TestEndOfTimeNeverGoesBackwards(t *testing.T) {
	const unixToInternal = (1969*365 + 1969/4 - 1969/100 + 1969/400) * 24 * 60 * 60
	end := time.Unix(math.MaxInt64-unixToInternal, 999_999_999)
	require.True(t, end.After(end.Add(-1)), "end(representable)")
	clk := clock.NewFake(end)
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: 1500 * time.Millisecond, BackoffMultiplier: 1, Clock: clk, Rand: zeroDraw,
	})
	require.ErrorIs(t, b.Execute(fail), errDown)
	// No wait can end later than the end of time, so every deadline is
	// now: the breaker is half-open at once, admits a probe, and gives up
	// on it at the next look.
	require.Equal(t, breaker.HalfOpen, b.State())
	_, err := b.Allow()
	require.NoError(t, err)
	_, err = b.Allow()
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.False(t, oe.RetryAt.Before(clk.Now()), "RetryAt %v is before now %v", oe.RetryAt, clk.Now())
	assert.Equal(t, breaker.HalfOpen, b.State())
	assert.Zero(t, b.RetryAt(), "a probe is free")
}
