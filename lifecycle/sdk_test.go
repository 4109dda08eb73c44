package lifecycle_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/lifecycle"
)

// exporterKind is how a test exporter behaves.
type exporterKind int

const (
	fastExporter exporterKind = iota // exports at once
	slowExporter                     // 50 ms per Export, honouring its context
	hungExporter                     // blocks in Export until released, ignoring its context
)

func (k exporterKind) String() string {
	return [...]string{"fast", "slow", "hung"}[k]
}

const slowDelay = 50 * time.Millisecond

// testExporter is an sdklog.Exporter of a given kind that counts what it
// exported.
type testExporter struct {
	kind     exporterKind
	release  chan struct{} // hung: closed to release Export
	entered  chan struct{} // receives (without blocking) each time Export starts
	exported atomic.Int64
	shutdown chan struct{} // closed by Shutdown
	once     sync.Once
}

func newTestExporter(t *testing.T, kind exporterKind) *testExporter {
	e := &testExporter{
		kind:     kind,
		release:  make(chan struct{}),
		entered:  make(chan struct{}, 1),
		shutdown: make(chan struct{}),
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(e.release) }) })
	return e
}

func (e *testExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	select {
	case e.entered <- struct{}{}:
	default:
	}
	switch e.kind {
	case hungExporter:
		<-e.release // ignores ctx on purpose
		return nil  // not counted: the test is over
	case slowExporter:
		t := time.NewTimer(slowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.exported.Add(int64(len(recs)))
	return nil
}

func (e *testExporter) ForceFlush(context.Context) error { return nil }

func (e *testExporter) Shutdown(context.Context) error {
	e.once.Do(func() { close(e.shutdown) })
	return nil
}

// waitShutdown waits until the exporter's Shutdown has run, i.e. the
// processor's worker is done with it, before the counts are checked.
func (e *testExporter) waitShutdown(t *testing.T) {
	t.Helper()
	select {
	case <-e.shutdown:
	case <-time.After(10 * time.Second):
		t.Fatal("exporter Shutdown was never called")
	}
}

func emitN(lp *sdklog.LoggerProvider, n int) {
	l := lp.Logger("lifecycle_test")
	for i := range n {
		var r log.Record
		r.SetBody(attribute.StringValue("record"))
		r.AddAttributes(attribute.Int("i", i))
		l.Emit(context.Background(), r)
	}
}

const sdkRecords = 100

// newSDKPipeline is a LoggerProvider with the SDK BatchProcessor: batches of
// 10, so that a slow exporter needs 10 × 50 ms for 100 records.
func newSDKPipeline(t *testing.T, kind exporterKind) (*sdklog.LoggerProvider, *sdklog.BatchProcessor, *testExporter) {
	exp := newTestExporter(t, kind)
	bp := sdklog.NewBatchProcessor(exp,
		sdklog.WithMaxQueueSize(10*sdkRecords),
		sdklog.WithExportMaxBatchSize(10),
		sdklog.WithExportInterval(time.Hour))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(bp))
	emitN(lp, sdkRecords)
	return lp, bp, exp
}

// TestSDKBatchProcessor runs every strategy against the SDK's BatchProcessor
// behind a LoggerProvider with a fast, a slow and a hung exporter. The
// component is Group(provider, processor): see TestSDKProviderIgnoresEndedContext
// for why the processor is in it. The SDK honours its contexts, so nothing is
// abandoned; it does not count its losses, so the counts asserted are the
// exporter's.
// On the system clock: the SDK's LoggerProvider and BatchProcessor use real deadlines and timers of their own.
func TestSDKBatchProcessor(t *testing.T) {
	type tc struct {
		strategy lifecycle.Strategy
		kind     exporterKind
		deadline time.Duration
		allOut   bool // every record must be exported and err nil
	}
	cases := []tc{
		{lifecycle.Immediate, fastExporter, roomyDeadline, false},
		{lifecycle.Immediate, slowExporter, roomyDeadline, false},
		{lifecycle.Immediate, hungExporter, roomyDeadline, false},
		{lifecycle.Flush, fastExporter, roomyDeadline, true},
		{lifecycle.Flush, slowExporter, roomyDeadline, true},           // 10 batches × 50 ms fit
		{lifecycle.Flush, slowExporter, 200 * time.Millisecond, false}, // they do not
		{lifecycle.Flush, hungExporter, 200 * time.Millisecond, false},
		{lifecycle.Graceful, fastExporter, roomyDeadline, true},
		{lifecycle.Graceful, slowExporter, roomyDeadline, true},
		{lifecycle.Graceful, slowExporter, 200 * time.Millisecond, false}, // see below
		{lifecycle.Graceful, hungExporter, 200 * time.Millisecond, false},
	}
	for _, c := range cases {
		t.Run(c.strategy.String()+"/"+c.kind.String()+"/"+c.deadline.String(), func(t *testing.T) {
			lp, bp, exp := newSDKPipeline(t, c.kind)
			if c.kind == hungExporter {
				<-exp.entered // the worker is stuck in Export
			}
			start := time.Now()
			r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, c.deadline), c.strategy,
				lifecycle.Named("logs", lifecycle.Group(lp, bp)))
			took := time.Since(start)
			t.Logf("sdk BatchProcessor, %s, %s exporter, deadline %v: %v, err=%v", c.strategy, c.kind, c.deadline, took, err)
			require.Len(t, r.Components, 1)
			assert.False(t, r.Components[0].Abandoned, "the SDK honours its context")
			assert.False(t, r.Components[0].HasCounts)

			switch {
			case c.strategy == lifecycle.Immediate:
				assert.Less(t, took, immediateLimit)
				assert.NoError(t, err, "context.Canceled is what Immediate asks for")
				if c.kind != hungExporter {
					exp.waitShutdown(t)
				}
				if c.kind != fastExporter { // a fast worker may have exported everything already
					assert.Less(t, exp.exported.Load(), int64(sdkRecords), "Immediate must not wait for the export")
				}
			case c.allOut:
				require.NoError(t, err)
				assert.Equal(t, int64(sdkRecords), exp.exported.Load())
				assert.Less(t, took, c.deadline)
			case c.strategy == lifecycle.Graceful && c.kind == slowExporter:
				// The SDK's ForceFlush takes every queued record out of its
				// queue before exporting; when the drain budget ends, the
				// records not yet exported are gone, and Shutdown finds an
				// empty queue. The loss is silent: no error, no count. Only
				// the report's BudgetExpired hints at it.
				requireWithinRealDeadline(t, took, c.deadline)
				assert.True(t, r.Components[0].BudgetExpired)
				exp.waitShutdown(t)
				assert.Less(t, exp.exported.Load(), int64(sdkRecords))
			default:
				requireWithinRealDeadline(t, took, c.deadline)
				assert.GreaterOrEqual(t, took, c.deadline-10*time.Millisecond)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Less(t, exp.exported.Load(), int64(sdkRecords))
			}
		})
	}
}

// The SDK's LoggerProvider.Shutdown (v1.47), given a context that has already
// ended, returns without shutting down its processors: the BatchProcessor's
// worker keeps running and its queue is neither exported nor dropped. That is
// why the pipelines above are Group(provider, processor).
func TestSDKProviderIgnoresEndedContext(t *testing.T) {
	lp, bp, exp := newSDKPipeline(t, fastExporter)
	err := lifecycle.Shutdown(context.Background(), lifecycle.Immediate, lp)
	require.NoError(t, err)
	select {
	case <-exp.shutdown:
		t.Fatal("the SDK now shuts its processors down with an ended context; Group is no longer needed for it")
	default:
	}
	// With the processor in a group, it is shut down.
	require.NoError(t, lifecycle.Shutdown(context.Background(), lifecycle.Immediate, lifecycle.Group(lp, bp)))
	exp.waitShutdown(t)
}

// metricsExporter keeps the last export of a PeriodicReader.
type metricsExporter struct {
	mu   sync.Mutex
	last *metricdata.ResourceMetrics
}

func (e *metricsExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *metricsExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *metricsExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last = rm
	return nil
}

func (e *metricsExporter) ForceFlush(context.Context) error { return nil }
func (e *metricsExporter) Shutdown(context.Context) error   { return nil }

func (e *metricsExporter) sum(t *testing.T, name string) int64 {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	require.NotNil(t, e.last, "no metrics were exported")
	for _, sm := range e.last.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				s, ok := m.Data.(metricdata.Sum[int64])
				require.True(t, ok)
				var v int64
				for _, dp := range s.DataPoints {
					v += dp.Value
				}
				return v
			}
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

// Logs before metrics: the counters updated while the LoggerProvider shuts
// down are in the MeterProvider's final export.
func TestLogsBeforeMetricsExportsFinalCounts(t *testing.T) {
	for _, s := range []lifecycle.Strategy{lifecycle.Flush, lifecycle.Graceful} {
		t.Run(s.String(), func(t *testing.T) {
			mexp := &metricsExporter{}
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
				sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))))
			counter, err := mp.Meter("lifecycle_test").Int64Counter("log.shutdowns")
			require.NoError(t, err)

			exp := &hookedLogExporter{onShutdown: func(ctx context.Context) { counter.Add(ctx, 1) }}
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
			emitN(lp, 10)

			require.NoError(t, lifecycle.Shutdown(ctxWithTimeout(t, 5*time.Second), s, lp, mp))
			assert.Equal(t, int64(1), mexp.sum(t, "log.shutdowns"))
			assert.Equal(t, int64(10), exp.exported.Load())
		})
	}
}

type hookedLogExporter struct {
	exported   atomic.Int64
	onShutdown func(context.Context)
}

func (e *hookedLogExporter) Export(_ context.Context, recs []sdklog.Record) error {
	e.exported.Add(int64(len(recs)))
	return nil
}
func (e *hookedLogExporter) ForceFlush(context.Context) error { return nil }
func (e *hookedLogExporter) Shutdown(ctx context.Context) error {
	e.onShutdown(context.WithoutCancel(ctx))
	return nil
}
