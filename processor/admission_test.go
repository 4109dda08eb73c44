package processor_test

// Black-box regression tests of admission: what a full store evicts,
// refuses or waits for, with one destination and with a laggard, and how
// a Block wait ends when the LoggerProvider shuts down.

import (
	"context"
	"errors"
	"strconv"
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

	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/processor"
	"github.com/steadylog/steadylog/retry"
)

// entered waits for an exporter to signal that Export was called; the
// limit is a hang detector.
func entered(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Export was not called")
	}
}

func emitBody(l log.Logger, body string) {
	var r log.Record
	r.SetBody(attribute.StringValue(body))
	r.SetSeverity(log.SeverityInfo)
	l.Emit(context.Background(), r)
}

// The SDK's LoggerProvider.Shutdown waits for every OnEmit in progress
// before it shuts the processor down. An OnEmit waiting under
// Block(time.Minute) must not hold it: with WatchProvider the wait ends
// when the provider's Shutdown begins, the provider shuts the processor
// down, the queue is drained and the exporter shut down.
func TestBlockEndsWhenTheWatchedProviderShutsDown(t *testing.T) {
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(2), processor.WithExportMaxBatchSize(1),
		processor.WithExportInterval(time.Hour), processor.WithOverflow(processor.Block(time.Minute)))...)
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	p.WatchProvider(lp)
	l := lp.Logger("test")

	emitBody(l, "in flight")
	entered(t, exp.entered) // the worker holds the first record
	emitBody(l, "queued 1")
	emitBody(l, "queued 2")
	emitted := make(chan struct{})
	go func() { defer close(emitted); emitBody(l, "waits") }()
	require.Eventually(t, func() bool { return p.Stats().Waiting == 1 }, 5*time.Second, time.Millisecond)

	shutdown := make(chan error, 1)
	go func() { shutdown <- lp.Shutdown(context.Background()) }()
	select {
	case <-emitted: // the provider's Shutdown released the waiting OnEmit
	case <-time.After(10 * time.Second):
		t.Fatal("the OnEmit waiting under Block still holds the provider's Shutdown")
	}
	// The provider goes on to shut the processor down: admission closes.
	require.Eventually(t, func() bool {
		return p.OnEmit(context.Background(), rec("late")) == nil && p.Stats().Dropped[processor.DropAlreadyShutdown] == 2
	}, 5*time.Second, time.Millisecond)
	close(exp.release)
	within(t, 10*time.Second, "LoggerProvider.Shutdown", func() { require.NoError(t, <-shutdown) })

	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(3), s.Exported, "%v", s)
	assert.Equal(t, int64(3), exp.got.Load())
	assert.Equal(t, uint64(2), s.Dropped[processor.DropAlreadyShutdown], "the waiter and the late record: %v", s)
	assert.Equal(t, int64(1), exp.shutdowns.Load(), "the exporter is shut down")
}

// StopBlocking, which lifecycle calls before any Shutdown, ends a wait at
// once and makes later records that find no room fail fast; the records
// that fit are still admitted.
func TestStopBlockingEndsWaitsAndLaterWaits(t *testing.T) {
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(1), processor.WithExportMaxBatchSize(1),
		processor.WithExportInterval(time.Hour), processor.WithOverflow(processor.Block(time.Minute)))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("in flight")))
	entered(t, exp.entered)
	require.NoError(t, p.OnEmit(context.Background(), rec("queued")))
	emitted := make(chan struct{})
	go func() { defer close(emitted); _ = p.OnEmit(context.Background(), rec("waits")) }()
	require.Eventually(t, func() bool { return p.Stats().Waiting == 1 }, 5*time.Second, time.Millisecond)
	p.StopBlocking()
	within(t, 10*time.Second, "the waiting OnEmit", func() { <-emitted })
	within(t, 10*time.Second, "a later OnEmit", func() { _ = p.OnEmit(context.Background(), rec("later")) })
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(2), s.Dropped[processor.DropAlreadyShutdown], "%v", s)
	assert.Equal(t, 1, s.Queued)
	close(exp.release)
	require.NoError(t, p.Shutdown(context.Background()))
	s = p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(2), s.Exported)
}

func sizedRec(bodyBytes int) *sdklog.Record {
	var r sdklog.Record
	r.SetBody(attribute.StringValue(strings.Repeat("x", bodyBytes)))
	return &r
}

// A record that fits the byte budget but not beside the batch in flight
// evicts nothing: eviction cannot free what is in flight, so the queued
// records stay and only the newcomer is dropped.
func TestUnfittableRecordEvictsNothing(t *testing.T) {
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueBytes(100<<10), processor.WithExportMaxBatchSize(1),
		processor.WithMaxQueueSize(100), processor.WithExportInterval(time.Hour), processor.WithoutHeapMonitor())...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), sizedRec(60<<10)))
	entered(t, exp.entered) // 60 KiB in flight
	for i := range 5 {
		require.NoError(t, p.OnEmit(context.Background(), rec("small "+strconv.Itoa(i))))
	}
	require.NoError(t, p.OnEmit(context.Background(), sizedRec(41_000)))
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, 5, s.Queued, "nothing queued was evicted: %v", s)
	assert.Equal(t, map[processor.DropReason]uint64{processor.DropByteLimit: 1}, s.Dropped)

	// A record that fits once one small record goes evicts that one, the
	// oldest, and no more.
	small := memguard.RecordSize(rec("small 0"))
	overhead := memguard.RecordSize(sizedRec(10_000)) - 10_000
	room := int64(100<<10) - s.InFlightBytes - s.QueuedBytes
	require.NoError(t, p.OnEmit(context.Background(), sizedRec(int(room+small/2-overhead))))
	s = p.Stats()
	invariant(t, s)
	assert.Equal(t, 5, s.Queued, "one evicted, one admitted: %v", s)
	assert.Equal(t, map[processor.DropReason]uint64{processor.DropByteLimit: 2}, s.Dropped)
	close(exp.release)
	require.NoError(t, p.Shutdown(context.Background()))
	invariant(t, p.Stats())
}

// Under heap pressure the processor keeps a quarter of its budget; a
// record larger than that quarter is dropped without evicting anything.
func TestUnfittableRecordUnderHeapPressureEvictsNothing(t *testing.T) {
	high, err := memguard.NewHeapMonitor(memguard.WithLimit(1)) // always under pressure
	require.NoError(t, err)
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueBytes(100<<10), processor.WithExportMaxBatchSize(100),
		processor.WithMaxQueueSize(100), processor.WithExportInterval(time.Hour), processor.WithHeapMonitor(high))...)
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, p.OnEmit(context.Background(), rec("small "+strconv.Itoa(i))))
	}
	require.NoError(t, p.OnEmit(context.Background(), sizedRec(30<<10)))
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, 5, s.Queued, "%v", s)
	assert.Equal(t, map[processor.DropReason]uint64{processor.DropHeapPressure: 1}, s.Dropped)
	close(exp.release)
	require.NoError(t, p.Shutdown(context.Background()))
}

// With severity-aware eviction a low-severity record may evict only
// low-severity ones: when they are too few to make room it evicts none,
// and when they are enough it evicts just those.
func TestSeverityEvictionDecidesBeforeEvicting(t *testing.T) {
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(100), processor.WithExportMaxBatchSize(1),
		processor.WithMaxQueueBytes(100<<10), processor.WithExportInterval(time.Hour), processor.WithoutHeapMonitor(),
		processor.WithSeverityEviction(log.SeverityWarn))...)
	require.NoError(t, err)
	mk := func(sev log.Severity, size int) *sdklog.Record {
		r := sizedRec(size)
		r.SetSeverity(sev)
		return r
	}
	require.NoError(t, p.OnEmit(context.Background(), rec("in flight")))
	entered(t, exp.entered)
	require.NoError(t, p.OnEmit(context.Background(), mk(log.SeverityDebug, 2_000)))
	require.NoError(t, p.OnEmit(context.Background(), mk(log.SeverityError, 40_000)))
	require.NoError(t, p.OnEmit(context.Background(), mk(log.SeverityError, 40_000)))
	// About 7 KB short, and only about 2.6 KB of debug records to evict.
	require.NoError(t, p.OnEmit(context.Background(), mk(log.SeverityDebug, 25_000)))
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, 3, s.Queued, "nothing was evicted: %v", s)
	assert.Equal(t, map[processor.DropReason]uint64{processor.DropByteLimit: 1}, s.Dropped)
	// About 1 KB short: the debug record goes, the errors stay.
	require.NoError(t, p.OnEmit(context.Background(), mk(log.SeverityDebug, 19_000)))
	s = p.Stats()
	invariant(t, s)
	assert.Equal(t, 3, s.Queued, "%v", s)
	assert.Equal(t, map[processor.DropReason]uint64{processor.DropByteLimit: 2}, s.Dropped)
	close(exp.release)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(4), p.Stats().Exported)
}

// Destination A drops ten records for good while B lags: store-wide they
// are dropped as export_failed at once — the reason of their first drop —
// and stay so when the store later evicts them for B.
func TestStoreWideDropReasonIsTheFirstDrop(t *testing.T) {
	const queue, batch = 20, 10
	failing := &permanentExporter{}
	lag := newHungExporter()
	p, err := processor.NewWithDestinations([]processor.Destination{
		{Name: "failing", Exporter: failing},
		{Name: "lagging", Exporter: lag},
	}, append(quiet(), processor.WithMaxQueueSize(queue), processor.WithExportMaxBatchSize(batch),
		processor.WithExportInterval(time.Hour))...)
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	l := lp.Logger("test")
	for round := 1; round <= 4; round++ {
		for i := range batch {
			emitBody(l, strconv.Itoa(round*100+i))
		}
		if round == 1 {
			entered(t, lag.entered)
		}
		require.Eventually(t, func() bool {
			return destination(t, p.Stats(), "failing").Dropped[processor.DropExportFailed] == uint64(round*batch)
		}, 5*time.Second, time.Millisecond)
		s := p.Stats()
		invariant(t, s)
		assert.Equal(t, uint64(round*batch), s.Dropped[processor.DropExportFailed], "round %d: %v", round, s)
		assert.Zero(t, s.Queued+s.InFlight, "every record has its outcome store-wide: %v", s)
	}
	s := p.Stats()
	assert.Zero(t, s.Dropped[processor.DropQueueFull], "the evictions for B are not first drops: %v", s)
	lagging := destination(t, s, "lagging")
	assert.Equal(t, uint64(40-queue-batch), lagging.Dropped[processor.DropQueueFull])
	assert.Equal(t, queue, lagging.Queued)
	close(lag.release)
	require.NoError(t, lp.Shutdown(context.Background()))
	s = p.Stats()
	invariant(t, s)
	assert.Equal(t, map[processor.DropReason]uint64{processor.DropExportFailed: 40}, s.Dropped)
	assert.Equal(t, uint64(queue+batch), destination(t, s, "lagging").Exported)
}

type permanentExporter struct{ calls atomic.Int64 }

func (e *permanentExporter) Export(context.Context, []sdklog.Record) error {
	e.calls.Add(1)
	return retry.Permanent(errors.New("rejected"))
}
func (e *permanentExporter) ForceFlush(context.Context) error { return nil }
func (e *permanentExporter) Shutdown(context.Context) error   { return nil }

// A hung destination costs the healthy one nothing under any overflow
// policy: once the store is full, the records only the laggard still
// needs are its drops, so a healthy destination that keeps up receives
// every record, DropNewest refuses nothing and Block never waits.
func TestLaggardCannotStarveTheHealthyUnderAnyPolicy(t *testing.T) {
	const n, queue, batch = 60, 20, 10
	for _, policy := range []processor.OverflowPolicy{processor.DropOldest(), processor.DropNewest(), processor.Block(time.Minute)} {
		t.Run(policy.String(), func(t *testing.T) {
			healthy := newBodyExporter(n)
			hung := newHungExporter()
			p, err := processor.NewWithDestinations([]processor.Destination{
				{Name: "hung", Exporter: hung},
				{Name: "healthy", Exporter: healthy},
			}, append(quiet(), processor.WithMaxQueueSize(queue), processor.WithExportMaxBatchSize(batch),
				processor.WithExportInterval(time.Hour), processor.WithOverflow(policy))...)
			require.NoError(t, err)
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
			p.WatchProvider(lp)
			l := lp.Logger("test")
			for emitted := 0; emitted < n; {
				within(t, 10*time.Second, "a batch of emits", func() {
					for range batch {
						emitBody(l, strconv.Itoa(emitted))
						emitted++
					}
				})
				if emitted == batch {
					entered(t, hung.entered)
				}
				require.Eventually(t, func() bool { return healthy.received() == emitted }, 5*time.Second, 100*time.Microsecond)
			}
			require.Eventually(t, func() bool { return destination(t, p.Stats(), "healthy").Exported == n }, 5*time.Second, time.Millisecond)
			s := p.Stats()
			invariant(t, s)
			h := destination(t, s, "healthy")
			assert.Empty(t, h.Dropped)
			lagging := destination(t, s, "hung")
			assert.Equal(t, batch, lagging.InFlight)
			assert.Equal(t, queue, lagging.Queued)
			assert.Equal(t, map[processor.DropReason]uint64{processor.DropQueueFull: n - queue - batch}, lagging.Dropped)
			assert.Equal(t, map[processor.DropReason]uint64{processor.DropQueueFull: n - queue - batch}, s.Dropped)
			assert.Zero(t, s.Waiting)

			close(hung.release)
			require.NoError(t, lp.Shutdown(context.Background()))
			s = p.Stats()
			invariant(t, s)
			assert.Equal(t, uint64(queue+batch), destination(t, s, "hung").Exported)
			dups, distinct := healthy.duplicates()
			assert.Empty(t, dups)
			assert.Equal(t, n, distinct)
		})
	}
}

// With a single destination DropNewest and Block keep their meaning: the
// newcomer is refused, or waits, and nothing queued is evicted.
func TestSingleDestinationPoliciesUnchanged(t *testing.T) {
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(2), processor.WithExportMaxBatchSize(1),
		processor.WithExportInterval(time.Hour), processor.WithOverflow(processor.DropNewest()))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("in flight")))
	entered(t, exp.entered)
	for i := range 4 {
		require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(i))))
	}
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, 2, s.Queued)
	assert.Equal(t, uint64(2), s.Dropped[processor.DropQueueFull])
	close(exp.release)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(3), p.Stats().Exported)
}

// Many goroutines emit under Block while the only destination's exporter
// stalls and the provider shuts down: every emit returns, and every record
// is accounted for.
func TestBlockedEmittersUnderProviderShutdown(t *testing.T) {
	exp := newHungExporter()
	p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(8), processor.WithExportMaxBatchSize(4),
		processor.WithExportInterval(time.Hour), processor.WithOverflow(processor.Block(time.Hour)))...)
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	p.WatchProvider(lp)
	l := lp.Logger("test")
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				emitBody(l, strconv.Itoa(g*100+i))
			}
		}()
	}
	entered(t, exp.entered)
	require.Eventually(t, func() bool { return p.Stats().Waiting > 0 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = lp.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the exporter is stuck: the processor's Shutdown runs out of time")
	within(t, 10*time.Second, "the emitting goroutines", wg.Wait)
	close(exp.release)
	s := p.Stats()
	invariant(t, s)
	assert.Zero(t, s.Queued+s.InFlight, "Shutdown was called and counted what it held: %v", s)
	assert.NotZero(t, s.Dropped[processor.DropShutdown])
	assert.Zero(t, s.Dropped[processor.DropBlockTimeout])
}

// Without WatchProvider, shutting down through lifecycle ends the wait:
// it calls StopBlocking (lifecycle.Blocker) on the processor after the
// flush phase and before the provider's Shutdown, which then shuts the
// processor down. With Immediate, too.
func TestBlockEndsWhenLifecycleShutsDown(t *testing.T) {
	for _, strategy := range []lifecycle.Strategy{lifecycle.Flush, lifecycle.Immediate} {
		t.Run(strategy.String(), func(t *testing.T) {
			exp := newHungExporter()
			p, err := processor.New(exp, append(quiet(), processor.WithMaxQueueSize(1), processor.WithExportMaxBatchSize(1),
				processor.WithExportInterval(time.Hour), processor.WithExportTimeout(time.Hour),
				processor.WithOverflow(processor.Block(time.Hour)))...)
			require.NoError(t, err)
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
			l := lp.Logger("test")
			emitBody(l, "in flight")
			entered(t, exp.entered)
			emitBody(l, "queued")
			emitted := make(chan struct{})
			go func() { defer close(emitted); emitBody(l, "waits") }()
			require.Eventually(t, func() bool { return p.Stats().Waiting == 1 }, 5*time.Second, time.Millisecond)

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- lifecycle.Shutdown(ctx, strategy, lifecycle.Group(lp, p)) }()
			within(t, 10*time.Second, "the waiting OnEmit", func() { <-emitted })
			// The provider shut the processor down: admission is closed.
			require.Eventually(t, func() bool {
				_ = p.OnEmit(context.Background(), rec("late"))
				return p.Stats().Dropped[processor.DropAlreadyShutdown] >= 2
			}, 5*time.Second, time.Millisecond)
			close(exp.release)
			within(t, 10*time.Second, "lifecycle.Shutdown", func() { <-done })
			s := p.Stats()
			invariant(t, s)
			assert.Zero(t, s.Queued+s.InFlight, "%v", s)
			assert.Zero(t, s.Dropped[processor.DropBlockTimeout])
		})
	}
}
