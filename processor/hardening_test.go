package processor_test

// Black-box tests that attack the processor's public API with what a user
// may pass it: overflowing values, typed nils, panicking and stuck user
// code, deadlines that end mid-step. Each asserts a defined outcome; none
// may crash or hang the test binary.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/processor"
	"github.com/steadylog/steadylog/retry"
)

// countingExporter counts the records it accepts. Each Export may be given
// a latency, honouring ctx, and a result.
type countingExporter struct {
	records   atomic.Int64
	calls     atomic.Int64
	latency   time.Duration
	fail      func() error
	deadlines chan time.Duration // if set, receives the time left on each Export's ctx
}

func (e *countingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	e.calls.Add(1)
	if e.deadlines != nil {
		left := time.Duration(-1)
		if dl, ok := ctx.Deadline(); ok {
			left = time.Until(dl)
		}
		select {
		case e.deadlines <- left:
		default:
		}
	}
	if e.latency > 0 {
		t := time.NewTimer(e.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e.fail != nil {
		if err := e.fail(); err != nil {
			return err
		}
	}
	e.records.Add(int64(len(recs)))
	return nil
}

func (e *countingExporter) ForceFlush(context.Context) error { return nil }
func (e *countingExporter) Shutdown(context.Context) error   { return nil }

func rec(body string) *sdklog.Record {
	var r sdklog.Record
	r.SetBody(attribute.StringValue(body))
	return &r
}

func quiet() []processor.Option {
	return []processor.Option{processor.WithoutDropAlerts(), processor.WithErrorHandler(func(error) {})}
}

func invariant(t *testing.T, s processor.Stats) {
	t.Helper()
	require.Equal(t, s.Received, s.Exported+s.TotalDropped()+uint64(s.Queued)+uint64(s.InFlight), "%+v", s)
	require.NotEmpty(t, s.Destinations)
	for _, d := range s.Destinations {
		require.Equal(t, d.Received, d.Exported+d.TotalDropped()+uint64(d.Queued)+uint64(d.InFlight), "destination %+v", d)
		require.LessOrEqual(t, d.Received, s.Received)
	}
}

// within runs f and fails the test if it has not returned after limit: a
// hang detector, not a synchronisation.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
	}
}

// Item 2: a server-requested delay of ten hours must not stall the
// pipeline or hang Shutdown: it is cut at the batch's retry time.
func TestHardeningRetryAfterIsCapped(t *testing.T) {
	exp := &countingExporter{fail: func() error { return retry.After(errors.New("429"), 10*time.Hour) }}
	p, err := processor.New(exp, append(quiet(), processor.WithRetryMaxElapsed(300*time.Millisecond),
		processor.WithExportInterval(10*time.Millisecond))...)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
	}
	require.Eventually(t, func() bool { return p.Stats().Dropped[processor.DropExportFailed] == 10 },
		5*time.Second, 5*time.Millisecond, "the batch must be dropped once its retry time is up")
	require.GreaterOrEqual(t, exp.calls.Load(), int64(2), "one attempt, and one last attempt when the retry time is up")
	within(t, 5*time.Second, "Shutdown(context.Background())", func() {
		require.NoError(t, p.Shutdown(context.Background()))
	})
	invariant(t, p.Stats())
}

// Item 2 with a breaker whose open wait is enormous: its RetryAt is cut at
// the batch's retry time too, so Shutdown without a deadline ends.
func TestHardeningHugeBreakerWaitDoesNotHangShutdown(t *testing.T) {
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenTimeout: 1000 * time.Hour, MaxOpenTimeout: 1000 * time.Hour})
	exp := exporter.MustBreaker(&countingExporter{fail: func() error { return errors.New("down") }}, b)
	p, err := processor.New(exp, append(quiet(), processor.WithRetryMaxElapsed(200*time.Millisecond))...)
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
	}
	within(t, 5*time.Second, "Shutdown(context.Background())", func() {
		err = p.Shutdown(context.Background())
	})
	require.Error(t, err)
	s := p.Stats()
	invariant(t, s)
	require.Equal(t, uint64(5), s.Dropped[processor.DropExportFailed])
}

// Item 3: durations in the environment that overflow time.Duration are
// refused with a message naming the variable, and the default is used.
func TestHardeningEnvDurationOverflow(t *testing.T) {
	for _, key := range []string{processor.EnvExportInterval, processor.EnvExportTimeout} {
		t.Run(key, func(t *testing.T) {
			t.Setenv(key, "9223372036855")
			var msgs []string
			exp := &countingExporter{deadlines: make(chan time.Duration, 1)}
			p, err := processor.New(exp, processor.WithoutDropAlerts(),
				processor.WithErrorHandler(func(err error) { msgs = append(msgs, err.Error()) }))
			require.NoError(t, err)
			require.Len(t, msgs, 1)
			require.Contains(t, msgs[0], key)
			require.Contains(t, msgs[0], "9223372036855")
			require.NoError(t, p.OnEmit(context.Background(), rec("x")))
			require.NoError(t, p.ForceFlush(context.Background()))
			require.Equal(t, int64(1), exp.records.Load())
			left := <-exp.deadlines
			require.Greater(t, left, 29*time.Second, "the export timeout must be the 30s default, not negative")
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
	t.Run("max accepted", func(t *testing.T) {
		t.Setenv(processor.EnvExportInterval, fmt.Sprint(processor.MaxEnvMilliseconds))
		t.Setenv(processor.EnvExportTimeout, fmt.Sprint(processor.MaxEnvMilliseconds))
		exp := &countingExporter{}
		var msgs atomic.Int32
		p, err := processor.New(exp, processor.WithoutDropAlerts(), processor.WithErrorHandler(func(error) { msgs.Add(1) }))
		require.NoError(t, err)
		require.Zero(t, msgs.Load())
		require.NoError(t, p.OnEmit(context.Background(), rec("x")))
		require.NoError(t, p.ForceFlush(context.Background()))
		require.Equal(t, int64(1), exp.records.Load())
		require.NoError(t, p.Shutdown(context.Background()))
	})
}

// Item 4: the largest sizes are accepted and cost nothing until used.
func TestHardeningMaxIntSizes(t *testing.T) {
	check := func(t *testing.T, opts ...processor.Option) {
		exp := &countingExporter{}
		p, err := processor.New(exp, append(quiet(), opts...)...)
		require.NoError(t, err)
		within(t, 5*time.Second, "OnEmit, Stats, ForceFlush", func() {
			for i := range 100 {
				require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
			}
			require.Equal(t, 100, p.Stats().Queued)
			require.NoError(t, p.ForceFlush(context.Background()))
		})
		require.Equal(t, int64(100), exp.records.Load())
		require.NoError(t, p.Shutdown(context.Background()))
		invariant(t, p.Stats())
	}
	t.Run("options", func(t *testing.T) {
		check(t, processor.WithMaxQueueSize(math.MaxInt), processor.WithExportMaxBatchSize(math.MaxInt),
			processor.WithMaxQueueBytes(math.MaxInt64))
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv(processor.EnvMaxQueueSize, fmt.Sprint(math.MaxInt))
		t.Setenv(processor.EnvExportMaxBatchSize, fmt.Sprint(math.MaxInt))
		t.Setenv(processor.EnvMaxQueueBytes, fmt.Sprint(int64(math.MaxInt64)))
		check(t)
	})
	t.Run("env too large", func(t *testing.T) {
		t.Setenv(processor.EnvMaxQueueSize, "9223372036854775808")
		check(t)
	})
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Item 5: slots are allocated as they are used, and what the byte budget
// does not count stays bounded by it.
func TestHardeningByteBudgetBoundsSlots(t *testing.T) {
	const budget = 1 << 20
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	exp := &gatedExporter{gate: gate, entered: entered}
	opts := append(quiet(), processor.WithMaxQueueSize(100_000), processor.WithExportMaxBatchSize(100_000),
		processor.WithMaxQueueBytes(budget), processor.WithExportInterval(time.Hour))
	before := heapInUse()
	p, err := processor.New(exp, opts...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("one")))
	one := int64(heapInUse()) - int64(before)
	require.Less(t, one, int64(256<<10), "one record grew the heap by %d bytes", one)

	// Fill well past the budget while the exporter hangs on a batch: the
	// queue evicts, and its slots must stay within about the budget again.
	go func() { _ = p.ForceFlush(context.Background()) }()
	<-entered
	for i := range 50_000 {
		require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
	}
	s := p.Stats()
	invariant(t, s)
	require.LessOrEqual(t, s.QueuedBytes+s.InFlightBytes, int64(budget))
	full := int64(heapInUse()) - int64(before)
	t.Logf("heap growth: one record %d B, full 1 MiB queue %d B", one, full)
	require.Less(t, full, int64(3*budget), "a full 1 MiB queue grew the heap by %d bytes", full)
	close(gate)
	require.NoError(t, p.Shutdown(context.Background()))
	invariant(t, p.Stats())
}

type gatedExporter struct {
	gate    chan struct{}
	entered chan struct{}
	records atomic.Int64
}

func (e *gatedExporter) Export(_ context.Context, recs []sdklog.Record) error {
	select {
	case e.entered <- struct{}{}:
	default:
	}
	<-e.gate
	e.records.Add(int64(len(recs)))
	return nil
}
func (e *gatedExporter) ForceFlush(context.Context) error { return nil }
func (e *gatedExporter) Shutdown(context.Context) error   { return nil }

// Item 6: panics outside Export, and typed nils.
type panicky struct {
	countingExporter
	onFlush, onShutdown bool
}

func (e *panicky) ForceFlush(context.Context) error {
	if e.onFlush {
		panic("flush boom")
	}
	return nil
}

func (e *panicky) Shutdown(context.Context) error {
	if e.onShutdown {
		panic("shutdown boom")
	}
	return nil
}

func TestHardeningExporterPanicsOutsideExport(t *testing.T) {
	exp := &panicky{onFlush: true, onShutdown: true}
	p, err := processor.New(exp, quiet()...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("a")))
	err = p.ForceFlush(context.Background())
	require.ErrorContains(t, err, "panicked in ForceFlush")
	require.Equal(t, int64(1), exp.records.Load(), "the batch was exported before the flush panicked")
	require.NoError(t, p.OnEmit(context.Background(), rec("b")))
	err = p.Shutdown(context.Background())
	require.ErrorContains(t, err, "panicked in Shutdown")
	require.Equal(t, int64(2), exp.records.Load())
	invariant(t, p.Stats())
}

func TestHardeningTypedNilExporter(t *testing.T) {
	var typed *countingExporter
	_, err := processor.New(typed)
	require.ErrorIs(t, err, processor.ErrNilExporter)
	var nilIface sdklog.Exporter
	_, err = processor.New(nilIface)
	require.ErrorIs(t, err, processor.ErrNilExporter)
}

func TestHardeningPanickingErrorHandler(t *testing.T) {
	exp := &countingExporter{fail: func() error { return retry.Permanent(errors.New("bad request")) }}
	p, err := processor.New(exp, processor.WithoutDropAlerts(), processor.WithErrorHandler(func(error) { panic("handler boom") }))
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("a")))
	_ = p.ForceFlush(context.Background())
	exp.fail = nil // only the worker reads it, after the next wake-up
	require.NoError(t, p.OnEmit(context.Background(), rec("b")))
	require.NoError(t, p.ForceFlush(context.Background()))
	require.Equal(t, int64(1), exp.records.Load(), "the worker survived the handler's panic")
	require.NoError(t, p.Shutdown(context.Background()))
	require.Equal(t, uint64(1), p.Stats().Dropped[processor.DropExportFailed])
}

// A meter provider whose instruments panic.
type panicMeterProvider struct {
	noop.MeterProvider
	inMeter bool
}

func (m panicMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter {
	if m.inMeter {
		panic("meter boom")
	}
	return panicMeter{}
}

type panicMeter struct{ noop.Meter }

func (panicMeter) Float64Histogram(string, ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return panicHistogram{}, nil
}

type panicHistogram struct{ noop.Float64Histogram }

func (panicHistogram) Record(context.Context, float64, ...metric.RecordOption) {
	panic("histogram boom")
}

func TestHardeningPanickingMeterProvider(t *testing.T) {
	t.Run("Meter", func(t *testing.T) {
		_, err := processor.New(&countingExporter{}, append(quiet(), processor.WithMeterProvider(panicMeterProvider{inMeter: true}))...)
		require.ErrorContains(t, err, "meter boom")
	})
	t.Run("histogram", func(t *testing.T) {
		var mu sync.Mutex
		var msgs []string
		exp := &countingExporter{}
		p, err := processor.New(exp, processor.WithoutDropAlerts(), processor.WithMeterProvider(panicMeterProvider{}),
			processor.WithErrorHandler(func(err error) { mu.Lock(); msgs = append(msgs, err.Error()); mu.Unlock() }))
		require.NoError(t, err)
		for i := range 3 {
			require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
			require.NoError(t, p.ForceFlush(context.Background()))
		}
		require.Equal(t, int64(3), exp.records.Load())
		require.NoError(t, p.Shutdown(context.Background()))
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, msgs, 1, "the panic is reported once: %q", msgs)
		require.Contains(t, msgs[0], "histogram boom")
	})
	// The spool's sync duration histogram is the first to panic here (no
	// export ends while the exporter hangs): spooling goes on, and the
	// panic is reported once for every histogram.
	t.Run("spool sync histogram", func(t *testing.T) {
		var mu sync.Mutex
		var msgs []string
		reported := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), msgs...) }
		exp := &gatedExporter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
		p, err := processor.New(exp, processor.WithoutDropAlerts(), processor.WithMeterProvider(panicMeterProvider{}),
			processor.WithSpool(t.TempDir(), processor.WithSpoolSyncInterval(0)),
			processor.WithErrorHandler(func(err error) { mu.Lock(); msgs = append(msgs, err.Error()); mu.Unlock() }))
		require.NoError(t, err)
		spooled := func(n uint64) func() bool {
			return func() bool { return p.Stats().Spool.Records == n }
		}
		for i := range 10 {
			require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
		}
		require.Eventually(t, spooled(10), 10*time.Second, time.Millisecond)
		require.Eventually(t, func() bool { return len(reported()) > 0 }, 10*time.Second, time.Millisecond,
			"the spooler syncs after its writes")
		for i := range 10 {
			require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(10+i))))
		}
		require.Eventually(t, spooled(20), 10*time.Second, time.Millisecond, "the spooler goes on after the panic")
		close(exp.gate)
		require.NoError(t, p.Shutdown(context.Background()))
		require.Equal(t, int64(20), exp.records.Load())
		s := p.Stats()
		invariant(t, s)
		require.Zero(t, s.Spool.Errors)
		got := reported()
		require.Len(t, got, 1, "the panic is reported once: %q", got)
		require.Contains(t, got[0], "histogram boom")
	})
}

// Item 7: a stuck drop-alert writer (a full stderr pipe) must not make
// Shutdown overstay its deadline.
type stuckWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	lines   []string
}

func (w *stuckWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	w.lines = append(w.lines, string(b))
	w.mu.Unlock()
	return len(b), nil
}

func TestHardeningStuckAlertLoggerAndShutdownDeadline(t *testing.T) {
	w := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
	gate := make(chan struct{})
	exp := &gatedExporter{gate: gate, entered: make(chan struct{}, 1)}
	p, err := processor.New(exp, processor.WithErrorHandler(func(error) {}), processor.WithMaxQueueSize(1),
		processor.WithDropAlerts(slog.New(slog.NewTextHandler(w, nil)), 5*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("0")))
	<-exp.entered // record 0 is in flight
	for i := 1; i < 5; i++ {
		require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
	}
	<-w.entered // the alerter is stuck writing its summary of 3 drops
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Shutdown(ctx)
	took := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, time.Second, "Shutdown took %v with a 100ms deadline", took)
	s := p.Stats()
	invariant(t, s)
	require.Equal(t, uint64(3), s.Dropped[processor.DropQueueFull])
	require.Equal(t, uint64(2), s.Dropped[processor.DropShutdown])
	close(w.release)
	close(gate)
	// The stuck summary and the last one are written once the writer
	// recovers; goleak (TestMain) checks the alerter's goroutines end.
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return strings.Contains(strings.Join(w.lines, ""), "shutdown=2")
	}, 5*time.Second, 5*time.Millisecond)
}

// Item 8: a caller's short ForceFlush deadline is not a backend failure.
func TestHardeningCallerDeadlineIsNotBackendFailure(t *testing.T) {
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 5})
	inner := &countingExporter{latency: 100 * time.Millisecond}
	p, err := processor.New(exporter.MustBreaker(inner, b), quiet()...)
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		require.ErrorIs(t, p.ForceFlush(ctx), context.DeadlineExceeded)
		cancel()
	}
	c := b.Counts()
	require.Zero(t, c.Failures, "%+v", c)
	require.Zero(t, c.Trips, "%+v", c)
	require.Equal(t, breaker.Closed, b.State())
	require.NoError(t, p.ForceFlush(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	invariant(t, s)
	require.Equal(t, uint64(5), s.Exported, "%+v", s)
	require.Equal(t, int64(5), inner.records.Load())
}

// The export timeout, unlike the caller's deadline, is the backend's
// fault: the breaker counts it.
func TestHardeningExportTimeoutIsBackendFailure(t *testing.T) {
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 2})
	inner := &countingExporter{latency: time.Hour}
	p, err := processor.New(exporter.MustBreaker(inner, b), append(quiet(), processor.WithExportTimeout(10*time.Millisecond),
		processor.WithRetryBackoff(time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("a")))
	flushCtx, cancelFlush := context.WithCancel(context.Background())
	flushed := make(chan error, 1)
	go func() { flushed <- p.ForceFlush(flushCtx) }()
	require.Eventually(t, func() bool { return b.State() == breaker.Open }, 5*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, b.Counts().Failures, uint64(2))
	cancelFlush()
	require.ErrorIs(t, <-flushed, context.Canceled)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx)
	invariant(t, p.Stats())
}

var _ io.Writer = (*stuckWriter)(nil)

// FuzzConfig feeds arbitrary environment values and option values to New:
// it must either fail with ErrInvalidOption, or return a processor that
// exports a record — never panic, hang, or yield one that cannot export.
func FuzzConfig(f *testing.F) {
	f.Add("2048", "512", "1000", "30000", "33554432", int64(0), int64(0), int64(0), int64(0))
	f.Add("9223372036855", "9223372036854775807", "9223372036854775807", "9223372036855", "1", int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add("-1", "0", "x", "1e3", "64MiB", int64(-1), int64(math.MinInt64), int64(1), int64(1))
	f.Add("1", "1", "1", "1", "584", int64(1), int64(1), int64(1), int64(1))
	f.Add("", "", "", "", "", int64(math.MinInt64), int64(583), int64(-5), int64(1))
	f.Fuzz(func(t *testing.T, queue, batch, interval, timeout, bytes string, optQueue, optBytes, optBatch, optDur int64) {
		env := map[string]string{
			processor.EnvMaxQueueSize: queue, processor.EnvExportMaxBatchSize: batch,
			processor.EnvExportInterval: interval, processor.EnvExportTimeout: timeout,
			processor.EnvMaxQueueBytes: bytes,
		}
		for k, v := range env {
			t.Setenv(k, strings.ReplaceAll(v, "\x00", "")) // the OS refuses NUL in the environment
		}
		opts := quiet()
		if optQueue != 0 {
			opts = append(opts, processor.WithMaxQueueSize(int(optQueue)))
		}
		if optBytes != 0 {
			opts = append(opts, processor.WithMaxQueueBytes(optBytes))
		}
		if optBatch != 0 {
			opts = append(opts, processor.WithExportMaxBatchSize(int(optBatch)))
		}
		if optDur != 0 {
			// Export timeouts shorter than a scheduler hiccup make the
			// property below flaky, not wrong: keep them at 1s or more.
			opts = append(opts, processor.WithExportInterval(time.Duration(optDur)))
			if optDur < 0 || optDur >= int64(time.Second) {
				opts = append(opts, processor.WithExportTimeout(time.Duration(optDur)))
			}
		}
		if ms, err := strconvParse(timeout); err == nil && ms > 0 && ms < 1000 {
			t.Setenv(processor.EnvExportTimeout, "1000")
		}
		exp := &countingExporter{}
		p, err := processor.New(exp, opts...)
		if err != nil {
			require.ErrorIs(t, err, processor.ErrInvalidOption)
			return
		}
		within(t, 10*time.Second, "emit and flush", func() {
			var empty sdklog.Record // the smallest record: every valid budget holds it
			require.NoError(t, p.OnEmit(context.Background(), &empty))
			require.NoError(t, p.ForceFlush(context.Background()))
			require.NoError(t, p.Shutdown(context.Background()))
		})
		s := p.Stats()
		invariant(t, s)
		require.Equal(t, uint64(1), s.Exported, "%+v", s)
		require.Equal(t, int64(1), exp.records.Load())
	})
}

func strconvParse(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// An exporter that ignores its context must not hang ForceFlush or
// Shutdown called with a context that never ends.
func TestHardeningHungExporterIgnoringContext(t *testing.T) {
	t.Run("Export", func(t *testing.T) {
		gate := make(chan struct{})
		exp := &gatedExporter{gate: gate, entered: make(chan struct{}, 1)}
		p, err := processor.New(exp, append(quiet(), processor.WithExportTimeout(50*time.Millisecond))...)
		require.NoError(t, err)
		for i := range 3 {
			require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
		}
		within(t, 5*time.Second, "ForceFlush(context.Background())", func() {
			require.ErrorIs(t, p.ForceFlush(context.Background()), processor.ErrExporterHung)
		})
		require.NoError(t, p.OnEmit(context.Background(), rec("3")))
		within(t, 5*time.Second, "Shutdown(context.Background())", func() {
			require.ErrorIs(t, p.Shutdown(context.Background()), processor.ErrExporterHung)
		})
		s := p.Stats()
		invariant(t, s)
		require.Equal(t, uint64(4), s.Dropped[processor.DropShutdown], "%+v", s)
		close(gate) // the worker ends once the exporter returns (goleak checks)
	})
	t.Run("Shutdown", func(t *testing.T) {
		gate := make(chan struct{})
		exp := &hangingShutdown{gate: gate}
		p, err := processor.New(exp, append(quiet(), processor.WithExportTimeout(50*time.Millisecond))...)
		require.NoError(t, err)
		require.NoError(t, p.OnEmit(context.Background(), rec("a")))
		within(t, 5*time.Second, "Shutdown(context.Background())", func() {
			require.ErrorIs(t, p.Shutdown(context.Background()), processor.ErrExporterHung)
		})
		s := p.Stats()
		invariant(t, s)
		require.Equal(t, uint64(1), s.Exported, "the record was exported before the exporter's Shutdown hung")
		close(gate)
	})
}

type hangingShutdown struct {
	countingExporter
	gate chan struct{}
}

func (e *hangingShutdown) Shutdown(context.Context) error { <-e.gate; return nil }

// A retry backoff at the edge of time.Duration must not wrap.
func TestHardeningHugeBackoff(t *testing.T) {
	var calls atomic.Int64
	exp := &countingExporter{fail: func() error {
		if calls.Add(1) == 1 {
			return errors.New("blip")
		}
		return nil
	}}
	p, err := processor.New(exp, append(quiet(), processor.WithRetryBackoff(math.MaxInt64/2+1, math.MaxInt64),
		processor.WithRetryMaxElapsed(200*time.Millisecond))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("a")))
	within(t, 5*time.Second, "ForceFlush", func() { require.NoError(t, p.ForceFlush(context.Background())) })
	require.Equal(t, int64(1), exp.records.Load(), "retried at the end of the retry time, not never")
	require.NoError(t, p.Shutdown(context.Background()))
}

// An export timeout at the top of time.Duration's range must not make the
// overrun watch fire at once.
func TestHardeningMaxExportTimeout(t *testing.T) {
	exp := &countingExporter{latency: 20 * time.Millisecond}
	p, err := processor.New(exp, append(quiet(), processor.WithExportTimeout(math.MaxInt64))...)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
		require.NoError(t, p.ForceFlush(context.Background()))
	}
	require.NoError(t, p.Shutdown(context.Background()))
	require.Equal(t, int64(3), exp.records.Load())
}

// The admission features attacked from outside: extreme timeouts and
// watermarks, a budget that holds nothing, a nil context, a second
// Shutdown while callers wait.
func TestHardeningAdmissionExtremes(t *testing.T) {
	t.Run("Block(MaxInt64) released by Shutdown", func(t *testing.T) {
		gate := make(chan struct{})
		exp := &gatedExporter{gate: gate, entered: make(chan struct{}, 1)}
		p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(1),
			processor.WithOverflow(processor.Block(math.MaxInt64)))...)
		require.NoError(t, err)
		require.NoError(t, p.OnEmit(context.Background(), rec("in flight")))
		<-exp.entered
		require.NoError(t, p.OnEmit(context.Background(), rec("queued")))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				//lint:ignore SA1012 a nil context is what is being attacked
				_ = p.OnEmit(nil, rec("waiting"))
			}()
		}
		require.Eventually(t, func() bool { return p.Stats().Waiting == 4 }, 5*time.Second, time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_ = p.Shutdown(ctx)
		_ = p.Shutdown(ctx) // a second Shutdown while callers wait: a no-op
		within(t, 5*time.Second, "the blocked callers", wg.Wait)
		s := p.Stats()
		invariant(t, s)
		require.Equal(t, uint64(4), s.Dropped[processor.DropAlreadyShutdown], "%v", s)
		close(gate)
	})
	t.Run("watermarks at the edges", func(t *testing.T) {
		for _, marks := range [][2]float64{{1, 1}, {math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64}} {
			exp := &countingExporter{}
			p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(math.MaxInt),
				processor.WithBackPressure(marks[0], marks[1]))...)
			require.NoError(t, err)
			require.NoError(t, p.OnEmit(context.Background(), rec("x")))
			require.NoError(t, p.ForceFlush(context.Background()))
			require.NoError(t, p.Shutdown(context.Background()))
			require.Equal(t, int64(1), exp.records.Load())
		}
	})
	t.Run("a budget that holds nothing", func(t *testing.T) {
		budget, err := memguard.NewBudget(1)
		require.NoError(t, err)
		p, err := processor.New(&countingExporter{}, append(quiet(), processor.WithBudget(budget))...)
		require.NoError(t, err)
		for range 3 {
			require.NoError(t, p.OnEmit(context.Background(), rec("x")))
		}
		require.NoError(t, p.Shutdown(context.Background()))
		s := p.Stats()
		invariant(t, s)
		require.Equal(t, uint64(3), s.Dropped[processor.DropByteLimit], "counted, not lost silently: %v", s)
		require.Zero(t, budget.Used())
	})
	t.Run("a panicking back-pressure callback", func(t *testing.T) {
		exp := &countingExporter{}
		p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(4), processor.WithBackPressure(0.5, 0.25),
			processor.WithBackPressureFunc(func(processor.BackPressure) { panic("callback boom") }))...)
		require.NoError(t, err)
		for i := range 100 {
			require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
		}
		require.NoError(t, p.Shutdown(context.Background()))
		invariant(t, p.Stats())
	})
}
