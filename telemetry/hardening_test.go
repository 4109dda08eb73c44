package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/telemetry"

	"github.com/steadylog/steadylog/internal/clock"
)

// guardTimeout bounds every wait of these tests, so that a regression fails
// instead of hanging. It is not used to synchronise anything.
const guardTimeout = 10 * time.Second

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recv returns the next value of ch, failing the test if none comes.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guardTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// dropCounts is a drop source the test changes between checks. Each fail
// call makes one read panic.
type dropCounts struct {
	mu     sync.Mutex
	m      map[string]uint64
	panics int
}

func (d *dropCounts) add(reason string, n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]uint64{}
	}
	d.m[reason] += n
}

func (d *dropCounts) fail() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.panics++
}

func (d *dropCounts) read() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.panics > 0 {
		d.panics--
		panic("source exploded")
	}
	out := make(map[string]uint64, len(d.m))
	for k, v := range d.m {
		out[k] = v
	}
	return out
}

// faultyClock is a clock.Fake with a fault: newTicker and now, when set,
// replace the Fake's NewTicker and Now. To a DropAlerter or an
// ErrorReporter the clock is the caller's code, and these tests make it
// panic or return a nil ticker.
type faultyClock struct {
	*clock.Fake
	newTicker func(time.Duration) clock.Ticker
	now       func() time.Time
}

func (c faultyClock) NewTicker(d time.Duration) clock.Ticker {
	if c.newTicker != nil {
		return c.newTicker(d)
	}
	return c.Fake.NewTicker(d)
}

func (c faultyClock) Now() time.Time {
	if c.now != nil {
		return c.now()
	}
	return c.Fake.Now()
}

// awaitStopped waits until clk has no ticker left, failing the test if
// that takes longer than guardTimeout: the goroutine of the alerter or the
// reporter has stopped its ticker.
func awaitStopped(t *testing.T, clk *clock.Fake, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		clk.BlockUntilAtMost(0)
	}()
	recv(t, done, what)
}

// stuckWriter blocks every Write until release is called, like a full
// stderr pipe. entered is signalled when a Write has started; each line
// written is sent on lines once the Write goes through.
type stuckWriter struct {
	entered  chan struct{}
	released chan struct{}
	once     sync.Once
	lines    chan string
	writes   atomic.Int64
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{
		entered:  make(chan struct{}, 16),
		released: make(chan struct{}),
		lines:    make(chan string, 16),
	}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.released
	w.writes.Add(1)
	w.lines <- string(p)
	return len(p), nil
}

func (w *stuckWriter) release() { w.once.Do(func() { close(w.released) }) }

// TestShutdownHonoursDeadlineWhileLoggerIsStuck is the bug of a processor's
// Shutdown waiting forever for a drop alert stuck on a full stderr pipe.
func TestShutdownHonoursDeadlineWhileLoggerIsStuck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start bool // the goroutine is stuck in a periodic summary
	}{
		{"stuck in the goroutine's summary", true},
		{"stuck in the final summary", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			w := newStuckWriter()
			defer w.release() // whatever happens, nothing stays stuck
			var drops dropCounts
			clk := clock.NewFake(epoch)
			a, err := telemetry.NewDropAlerter(drops.read,
				telemetry.WithAlertLogger(slog.New(slog.NewTextHandler(w, nil))),
				telemetry.WithClock(clk))
			require.NoError(t, err)

			var wantLines []string
			if tc.start {
				a.Start()
				drops.add("queue_full", 3)
				clk.AdvanceAndWait(10 * time.Second)
				recv(t, w.entered, "the periodic summary to reach the writer")
				wantLines = append(wantLines, "dropped 3 records in the last 10s: queue_full=3")
			}
			drops.add("shutdown", 4)
			wantLines = append(wantLines, "dropped 4 records")

			const deadline = 100 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			began := time.Now()
			err = a.Shutdown(ctx)
			took := time.Since(began)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, took, deadline+400*time.Millisecond, "Shutdown must return at its deadline")

			// Later calls return nil at once, even with a context that is
			// already over, and do not wait for the first one's work.
			over, cancelOver := context.WithCancel(context.Background())
			cancelOver()
			assert.NoError(t, a.Shutdown(over))
			stopped := make(chan struct{})
			go func() { _ = a.Shutdown(context.Background()); close(stopped) }()
			recv(t, stopped, "a second Stop to return")

			w.release()
			for i, want := range wantLines {
				assert.Contains(t, recv(t, w.lines, fmt.Sprintf("line %d", i)), want)
			}
			if tc.start {
				awaitStopped(t, clk, "the ticker to be stopped")
			}
			goleak.VerifyNone(t, leaks) // retries until the alerter's goroutines end
			assert.Equal(t, int64(len(wantLines)), w.writes.Load(), "each summary exactly once")
			assert.Empty(t, w.lines)
		})
	}
}

// TestShutdownWithoutDeadlineWaitsForTheSummary checks the ordinary case:
// a Shutdown whose context does not end returns nil after the last
// summary.
func TestShutdownWithoutDeadlineWaitsForTheSummary(t *testing.T) {
	lines := make(chan string, 4)
	var drops dropCounts
	clk := clock.NewFake(epoch)
	a, err := telemetry.NewDropAlerter(drops.read,
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
		telemetry.WithClock(clk))
	require.NoError(t, err)
	a.Start()
	drops.add("byte_limit", 2)
	ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
	defer cancel()
	require.NoError(t, a.Shutdown(ctx))
	assert.Equal(t, "dropped 2 records in the last 0s: byte_limit=2", recv(t, lines, "the final summary"))
	awaitStopped(t, clk, "the ticker to be stopped")
	assert.NoError(t, a.Shutdown(ctx))
	assert.Empty(t, lines)
}

// chanHandler sends each message on lines. It panics while panics > 0,
// once per count.
type chanHandler struct {
	lines  chan string
	panics *atomic.Int64
}

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	if h.panics != nil && h.panics.Add(-1) >= 0 {
		panic("handler exploded")
	}
	h.lines <- r.Message
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

func TestAlerterSurvivesPanickingHandler(t *testing.T) {
	var panics atomic.Int64
	lines := make(chan string, 4)
	var drops dropCounts
	clk := clock.NewFake(epoch)
	a, err := telemetry.NewDropAlerter(drops.read,
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines, panics: &panics})),
		telemetry.WithClock(clk))
	require.NoError(t, err)
	a.Start()

	panics.Store(1)
	drops.add("queue_full", 2)
	clk.AdvanceAndWait(10 * time.Second) // the handler panics
	drops.add("queue_full", 3)
	clk.AdvanceAndWait(10 * time.Second) // the goroutine lives on
	assert.Equal(t, "dropped 5 records in the last 20s: queue_full=5", recv(t, lines, "the next summary"),
		"the drops of the summary that panicked are reported by the next one")

	panics.Store(1)
	drops.add("export_failed", 1)
	assert.False(t, a.Report(), "a panicking handler writes nothing")
	assert.True(t, a.Report())
	assert.Contains(t, recv(t, lines, "the report"), "dropped 1 records")

	panics.Store(1)
	drops.add("shutdown", 1)
	err = a.Shutdown(context.Background())
	require.ErrorIs(t, err, telemetry.ErrAlertPanic, "the final summary was lost to the panic")
	assert.Contains(t, err.Error(), "handler exploded")
	awaitStopped(t, clk, "the ticker to be stopped")
	assert.Empty(t, lines)
}

func TestAlerterSurvivesPanickingSource(t *testing.T) {
	lines := make(chan string, 4)
	var drops dropCounts
	clk := clock.NewFake(epoch)
	a, err := telemetry.NewDropAlerter(drops.read,
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
		telemetry.WithClock(clk))
	require.NoError(t, err)
	a.Start()
	drops.add("queue_full", 1)
	drops.fail()
	clk.AdvanceAndWait(10 * time.Second) // the source panics
	clk.AdvanceAndWait(10 * time.Second)
	assert.Equal(t, "dropped 1 records in the last 20s: queue_full=1", recv(t, lines, "the next summary"))

	drops.fail()
	assert.False(t, a.Report())
	drops.fail()
	require.ErrorIs(t, a.Shutdown(context.Background()), telemetry.ErrAlertPanic)
	awaitStopped(t, clk, "the ticker to be stopped")
}

func TestAlerterFailingTickerStartsNoGoroutine(t *testing.T) {
	for name, factory := range map[string]func(time.Duration) clock.Ticker{
		"factory panics":  func(time.Duration) clock.Ticker { panic("no ticker") },
		"factory is nil":  func(time.Duration) clock.Ticker { return nil },
		"C panics":        func(time.Duration) clock.Ticker { return panickyTicker{} },
		"Stop panics too": func(time.Duration) clock.Ticker { return panickyTicker{stop: true} },
	} {
		t.Run(name, func(t *testing.T) {
			lines := make(chan string, 2)
			var drops dropCounts
			a, err := telemetry.NewDropAlerter(drops.read,
				telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
				telemetry.WithClock(faultyClock{Fake: clock.NewFake(epoch), newTicker: factory}))
			require.NoError(t, err)
			a.Start() // must not panic
			drops.add("queue_full", 1)
			ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
			defer cancel()
			require.ErrorIs(t, a.Shutdown(ctx), telemetry.ErrAlertPanic, "Shutdown tells why there were no summaries")
			assert.Contains(t, recv(t, lines, "the final summary"), "dropped 1 records", "the final summary is still written")
		})
	}
}

type panickyTicker struct{ stop bool }

func (p panickyTicker) C() <-chan time.Time { panic("no channel") }
func (p panickyTicker) Stop() {
	if p.stop {
		panic("no stop")
	}
}

func TestAlerterPanickingClock(t *testing.T) {
	_, err := telemetry.NewDropAlerter(func() map[string]uint64 { return nil },
		telemetry.WithClock(faultyClock{Fake: clock.NewFake(epoch), now: func() time.Time { panic("no time") }}))
	require.ErrorIs(t, err, telemetry.ErrInvalidOption)
	require.ErrorIs(t, err, telemetry.ErrAlertPanic)

	// A clock that panics later costs the summaries that read it, not the
	// process.
	var calls atomic.Int64
	lines := make(chan string, 2)
	clk := clock.NewFake(epoch)
	a, err := telemetry.NewDropAlerter(func() map[string]uint64 { return map[string]uint64{"x": 1} },
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
		telemetry.WithClock(faultyClock{Fake: clk, now: func() time.Time {
			if calls.Add(1) == 2 {
				panic("no time")
			}
			return clk.Now()
		}}))
	require.NoError(t, err)
	assert.False(t, a.Report())
	assert.True(t, a.Report())
	assert.Contains(t, recv(t, lines, "the summary"), "dropped 1 records")
	require.NoError(t, a.Shutdown(context.Background()))
}

func TestAlerterHugeInterval(t *testing.T) {
	lines := make(chan string, 2)
	a, err := telemetry.NewDropAlerter(func() map[string]uint64 { return map[string]uint64{"queue_full": 1} },
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
		telemetry.WithAlertInterval(math.MaxInt64))
	require.NoError(t, err)
	assert.Equal(t, time.Duration(math.MaxInt64), telemetry.IntervalOf(a))
	a.Start() // the real ticker accepts it
	ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
	defer cancel()
	require.NoError(t, a.Shutdown(ctx))
	assert.Contains(t, recv(t, lines, "the final summary"), "dropped 1 records")

	clock.Real().NewTicker(math.MaxInt64).Stop()
}

func TestAlerterBoundsTheLine(t *testing.T) {
	lines := make(chan string, 2)
	src := map[string]uint64{}
	for i := range 100 {
		src[fmt.Sprintf("r%03d", i)] = uint64(1000 - i)
	}
	a, err := telemetry.NewDropAlerter(func() map[string]uint64 { return src },
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
		telemetry.WithClock(clock.NewFake(epoch)))
	require.NoError(t, err)
	require.True(t, a.Report())
	line := recv(t, lines, "the summary")
	assert.Equal(t, 16, strings.Count(line, "="), "at most 16 reasons are named: %s", line)
	assert.True(t, strings.HasSuffix(line, ", r015=985, +84 more"), line)

	// Counts that would overflow the total saturate instead of wrapping.
	src = map[string]uint64{"a": math.MaxUint64, "b": 5}
	a, err = telemetry.NewDropAlerter(func() map[string]uint64 { return src },
		telemetry.WithAlertLogger(slog.New(chanHandler{lines: lines})),
		telemetry.WithClock(clock.NewFake(epoch)))
	require.NoError(t, err)
	require.True(t, a.Report())
	assert.Contains(t, recv(t, lines, "the summary"), fmt.Sprintf("dropped %d records", uint64(math.MaxUint64)))
}

// Meter providers that misbehave: their code panics or returns nil.

type badProvider struct {
	noop.MeterProvider
	meter  metric.Meter
	panics bool
}

func (p badProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	if p.panics {
		panic("no meter")
	}
	return p.meter
}

type badMeter struct {
	noop.Meter
	gaugePanics, registerPanics, nilRegistration bool
	registerErr                                  error
	callback                                     *metric.Callback
}

func (m badMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	if m.gaugePanics {
		panic("no gauge")
	}
	return m.Meter.Int64ObservableGauge(name, opts...)
}

func (m badMeter) RegisterCallback(f metric.Callback, insts ...metric.Observable) (metric.Registration, error) {
	if m.registerPanics {
		panic("no callback")
	}
	if m.callback != nil {
		*m.callback = f
	}
	if m.registerErr != nil {
		return nil, m.registerErr
	}
	if m.nilRegistration {
		return nil, nil
	}
	return m.Meter.RegisterCallback(f, insts...)
}

type panickyObserver struct{ embedded.Observer }

func (panickyObserver) ObserveFloat64(metric.Float64Observable, float64, ...metric.ObserveOption) {
	panic("no observation")
}
func (panickyObserver) ObserveInt64(metric.Int64Observable, int64, ...metric.ObserveOption) {
	panic("no observation")
}

func TestObserveBreakerPanickingMeterProvider(t *testing.T) {
	var typedNil *badProvider
	errRegister := errors.New("register refused")
	for _, tc := range []struct {
		name string
		mp   metric.MeterProvider
		want error
	}{
		{"Meter panics", badProvider{panics: true}, telemetry.ErrMeterProviderPanic},
		{"typed nil provider", typedNil, telemetry.ErrMeterProviderPanic},
		{"nil Meter", badProvider{}, telemetry.ErrMeterProviderPanic},
		{"gauge panics", badProvider{meter: badMeter{gaugePanics: true}}, telemetry.ErrMeterProviderPanic},
		{"RegisterCallback panics", badProvider{meter: badMeter{registerPanics: true}}, telemetry.ErrMeterProviderPanic},
		{"nil registration", badProvider{meter: badMeter{nilRegistration: true}}, telemetry.ErrMeterProviderPanic},
		{"RegisterCallback fails", badProvider{meter: badMeter{registerErr: errRegister}}, errRegister},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reg metric.Registration
			var err error
			require.NotPanics(t, func() { reg, err = telemetry.ObserveBreaker(tc.mp, breaker.MustNew(breaker.Config{})) })
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, reg)
		})
	}

	// The callback recovers a panicking Observer.
	var cb metric.Callback
	reg, err := telemetry.ObserveBreaker(badProvider{meter: badMeter{callback: &cb}}, breaker.MustNew(breaker.Config{}))
	require.NoError(t, err)
	require.NotNil(t, cb)
	require.NotPanics(t, func() { err = cb(context.Background(), panickyObserver{}) })
	assert.ErrorContains(t, err, "observer panicked")
	require.NoError(t, reg.Unregister())
}
