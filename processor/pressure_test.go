package processor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/memguard"
)

func TestPressureOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"nil budget":       WithBudget(nil),
		"nil monitor":      WithHeapMonitor(nil),
		"marks reversed":   WithBackPressure(0.5, 0.6),
		"mark above 1":     WithBackPressure(1.1, 0.5),
		"low mark 0":       WithBackPressure(0.8, 0),
		"NaN":              WithBackPressure(0.8, nanValue()),
		"nil func":         WithBackPressureFunc(nil),
		"shed severity 0":  WithShedBelow(0),
		"shed severity 99": WithShedBelow(99),
	} {
		_, err := New(&recordingExporter{}, opt)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}
}

func nanValue() float64 { var z float64; return z / z }

// Two processors on one budget never hold more than it together, and give
// every byte back by the time both are shut down.
func TestSharedBudget(t *testing.T) {
	size := memguard.RecordSize(record("x", log.SeverityInfo))
	budget, err := memguard.NewBudget(10 * size)
	require.NoError(t, err)
	gateA, gateB := make(chan struct{}), make(chan struct{})
	a := newProcessor(t, &recordingExporter{gate: gateA}, WithBudget(budget), WithExportMaxBatchSize(4),
		WithExportInterval(time.Hour), WithoutDropAlerts())
	b := newProcessor(t, &recordingExporter{gate: gateB}, WithBudget(budget), WithExportMaxBatchSize(4),
		WithExportInterval(time.Hour), WithoutDropAlerts())

	var wg sync.WaitGroup
	var maxUsed atomic.Int64
	for _, p := range []*Processor{a, b} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					_ = p.OnEmit(context.Background(), record("x", log.SeverityInfo))
					if u := budget.Used(); u > maxUsed.Load() {
						maxUsed.Store(u)
					}
				}
			}()
		}
	}
	wg.Wait()
	require.LessOrEqual(t, maxUsed.Load(), budget.Limit())
	sa, sb := a.Stats(), b.Stats()
	requireInvariant(t, sa)
	requireInvariant(t, sb)
	require.Equal(t, budget.Used(), sa.QueuedBytes+sa.InFlightBytes+sb.QueuedBytes+sb.InFlightBytes,
		"the budget holds exactly what both keep")
	require.NotZero(t, sa.Dropped[DropByteLimit]+sb.Dropped[DropByteLimit], "400 records cannot fit 10")
	close(gateA)
	close(gateB)
	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
	require.Zero(t, budget.Used())
	requireInvariant(t, a.Stats())
	requireInvariant(t, b.Stats())
}

func TestSharedBudgetReleasedOnAbandon(t *testing.T) {
	budget, err := memguard.NewBudget(1 << 20)
	require.NoError(t, err)
	p, _, gate := blockedWorker(t, 2, WithBudget(budget))
	emit(t, p, "queued", log.SeverityInfo)
	require.NotZero(t, budget.Used())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	require.Zero(t, budget.Used(), "Shutdown gave up: everything it held is counted and released")
	close(gate)
	waitWorkers(p)
	require.Zero(t, budget.Used())
}

func TestSharedBudgetWithBlock(t *testing.T) {
	size := memguard.RecordSize(record("x", log.SeverityInfo))
	budget, err := memguard.NewBudget(2 * size)
	require.NoError(t, err)
	// Another user of the budget holds all of it.
	require.True(t, budget.TryAcquire(2*size))
	p := newProcessor(t, &recordingExporter{}, WithBudget(budget), WithOverflow(Block(10*time.Second)), WithoutDropAlerts())
	done := blockedEmit(context.Background(), p, "x", log.SeverityInfo)
	waitWaiting(t, p, 1)
	budget.Release(2 * size) // no wake-up reaches p: it looks again by itself
	<-done
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(1), s.Exported)
	require.Zero(t, budget.Used())
}

// pressureLines collects the back-pressure lines of the alert logger.
type pressureLines struct{ c chan string }

func (h pressureLines) Enabled(context.Context, slog.Level) bool { return true }
func (h pressureLines) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h pressureLines) WithGroup(string) slog.Handler            { return h }
func (h pressureLines) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "back-pressure") {
		h.c <- r.Message
	}
	return nil
}

func TestBackPressureRaisedAndCleared(t *testing.T) {
	mp, reader := newMeterProvider(t)
	events := make(chan BackPressure, 10)
	lines := pressureLines{c: make(chan string, 10)}
	p, exp, gate := blockedWorker(t, 1, WithMaxQueueSize(10), WithMeterProvider(mp),
		WithBackPressureFunc(func(bp BackPressure) { events <- bp }),
		WithDropAlerts(slog.New(lines), time.Hour),
		WithBackPressureHold(time.Millisecond)) // the hold: pressure_hold_test.go
	for i := range 7 {
		emit(t, p, fmt.Sprint(i), log.SeverityInfo)
	}
	require.False(t, p.Stats().BackPressure, "7 of 10 is below the 80% mark")
	emit(t, p, "7", log.SeverityInfo)
	s := p.Stats()
	require.True(t, s.BackPressure)
	require.Zero(t, s.TotalDropped(), "raised before anything is dropped")
	ev := <-events
	require.True(t, ev.Raised)
	require.Equal(t, 8, ev.Queued)
	require.Contains(t, <-lines.c, "back-pressure raised: 8 of 10 records")
	gauge, _ := points(t, reader, "steadylog.processor.backpressure")
	require.Equal(t, map[string]int64{"": 1}, gauge)

	close(gate) // the worker drains the queue one record at a time
	require.NoError(t, p.ForceFlush(context.Background()))
	ev = <-events
	require.False(t, ev.Raised)
	require.Contains(t, <-lines.c, "back-pressure cleared")
	s = p.Stats()
	require.False(t, s.BackPressure)
	require.Equal(t, uint64(2), s.BackPressureChanges)
	gauge, _ = points(t, reader, "steadylog.processor.backpressure")
	require.Equal(t, map[string]int64{"": 0}, gauge)
	require.Len(t, exp.exported(), 9)
	shutdownNow(t, p, nil)
}

func TestBackPressureByBytes(t *testing.T) {
	size := memguard.RecordSize(record("x", log.SeverityInfo))
	p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1000), WithMaxQueueBytes(10*size), WithBackPressure(0.5, 0.3))
	// One record in flight; four more take the processor to 5 of 10.
	for range 3 {
		emit(t, p, "x", log.SeverityInfo)
	}
	require.False(t, p.Stats().BackPressure)
	emit(t, p, "x", log.SeverityInfo)
	require.True(t, p.Stats().BackPressure)
	shutdownNow(t, p, gate)
}

// A panicking or slow callback never reaches OnEmit.
func TestBackPressureCallbackIsUserCode(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(2), WithoutDropAlerts(), WithBackPressureFunc(func(BackPressure) {
		if calls.Add(1) == 1 {
			<-release
			panic("callback boom")
		}
	}))
	for i := range 20 { // raised at once; the callback is stuck: OnEmit goes on
		emit(t, p, fmt.Sprint(i), log.SeverityInfo)
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	close(gate)
	require.NoError(t, p.Shutdown(ctx))
	requireInvariant(t, p.Stats())
}

// Shedding at the source, through a real LoggerProvider: while back-
// pressure is raised, Enabled answers false below the threshold, and each
// answer is counted, so the accounting stays exact.
func TestShedAtSource(t *testing.T) {
	gate := make(chan struct{})
	exp := &recordingExporter{gate: gate, entered: make(chan struct{}, 10)}
	p := newProcessor(t, exp, WithMaxQueueSize(10), WithExportMaxBatchSize(1), WithExportInterval(time.Hour),
		WithShedBelow(log.SeverityWarn), WithoutDropAlerts())
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := provider.Logger("test")
	ctx := context.Background()
	logAt := func(sev log.Severity) bool {
		if !logger.Enabled(ctx, log.EnabledParameters{Severity: sev}) {
			return false
		}
		var r log.Record
		r.SetSeverity(sev)
		r.SetBody(attribute.StringValue("m"))
		logger.Emit(ctx, r)
		return true
	}
	require.True(t, logAt(log.SeverityInfo))
	<-exp.entered // in flight; the exporter hangs
	for range 8 {
		require.True(t, logAt(log.SeverityInfo))
	}
	require.True(t, p.Stats().BackPressure)
	shed := 0
	for range 5 {
		if !logAt(log.SeverityInfo) {
			shed++
		}
	}
	require.Equal(t, 5, shed, "INFO is not even built while back-pressure is raised")
	require.True(t, logAt(log.SeverityError), "WARN and above still go in")
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(5), s.Dropped[DropShed])
	require.Equal(t, uint64(15), s.Received)
	close(gate)
	require.NoError(t, provider.Shutdown(ctx))
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(10), s.Exported)
}

// Heap pressure: with the monitor reporting high pressure (a limit far
// below the heap in use), the processor keeps a quarter of its budget and
// counts the rest as heap_pressure.
func TestHeapPressure(t *testing.T) {
	size := memguard.RecordSize(record("x", log.SeverityInfo))
	high, err := memguard.NewHeapMonitor(memguard.WithLimit(1))
	require.NoError(t, err)
	require.True(t, high.High())
	p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1000), WithMaxQueueBytes(40*size), WithHeapMonitor(high),
		WithBackPressure(1, 1))
	for range 20 {
		emit(t, p, "x", log.SeverityInfo)
	}
	s := p.Stats()
	requireInvariant(t, s)
	require.LessOrEqual(t, s.QueuedBytes+s.InFlightBytes, 10*size, "a quarter of the budget: %v", s)
	require.NotZero(t, s.Dropped[DropHeapPressure], "%v", s)
	require.Zero(t, s.Dropped[DropByteLimit])
	shutdownNow(t, p, gate)

	low, err := memguard.NewHeapMonitor(memguard.WithLimit(1 << 62))
	require.NoError(t, err)
	p, _, gate = blockedWorker(t, 1, WithMaxQueueSize(1000), WithMaxQueueBytes(40*size), WithHeapMonitor(low))
	for range 20 {
		emit(t, p, "x", log.SeverityInfo)
	}
	s = p.Stats()
	assert.Zero(t, s.TotalDropped(), "no pressure, no shedding: %v", s)
	shutdownNow(t, p, gate)
}

// With several destinations behind one processor (a fan-out), each record
// is kept, and its bytes taken from the budget, once.
func TestSharedBudgetWithFanout(t *testing.T) {
	budget, err := memguard.NewBudget(1 << 20)
	require.NoError(t, err)
	a, b := &recordingExporter{}, &recordingExporter{}
	p := newProcessor(t, exporter.MustFanout(a, b), WithBudget(budget), WithExportInterval(time.Hour), WithoutDropAlerts())
	for i := range 10 {
		emit(t, p, fmt.Sprint(i), log.SeverityInfo)
	}
	s := p.Stats()
	require.Equal(t, s.QueuedBytes, budget.Used())
	require.NoError(t, p.Shutdown(context.Background()))
	require.Zero(t, budget.Used())
	require.Len(t, a.exported(), 10)
	require.Len(t, b.exported(), 10)
}
