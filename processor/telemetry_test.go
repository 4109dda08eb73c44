package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/retry"
	"github.com/steadylog/steadylog/telemetry"
)

// scriptedExporter hands each Export call's reply channel to the test and
// returns what the test sends on it, ignoring ctx: the test decides when
// and how every export ends.
type scriptedExporter struct{ calls chan chan error }

func newScriptedExporter() *scriptedExporter { return &scriptedExporter{calls: make(chan chan error)} }

func (e *scriptedExporter) Export(context.Context, []sdklog.Record) error {
	reply := make(chan error)
	e.calls <- reply
	return <-reply
}
func (e *scriptedExporter) ForceFlush(context.Context) error { return nil }
func (e *scriptedExporter) Shutdown(context.Context) error   { return nil }

// observed is a record with an observed timestamp, as the SDK's Logger
// sets it, so that the queue wait is recorded.
func observed(body string) *sdklog.Record {
	r := record(body, log.SeverityInfo)
	r.SetObservedTimestamp(time.Now())
	return r
}

// points collects reader and returns, for the metric called name, the
// int64 sum/gauge values or the histogram counts keyed by error.type ("" when
// absent), and the otel.component.name seen.
func points(t *testing.T, reader *sdkmetric.ManualReader, name string) (map[string]int64, string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	var component string
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			found = true
			add := func(attrs attribute.Set, v int64) {
				et, _ := attrs.Value("error.type")
				cn, _ := attrs.Value("otel.component.name")
				ct, _ := attrs.Value("otel.component.type")
				assert.Equal(t, telemetry.ComponentTypeProcessor, ct.AsString())
				component = cn.AsString()
				out[et.AsString()] = v
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, int64(p.Count))
				}
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
		}
	}
	require.True(t, found, "metric %s not collected", name)
	return out, component
}

func newMeterProvider(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	return mp, reader
}

// TestMetricsAgreeWithStatsForEveryDropReason drives one processor through
// every outcome a record can have and checks each metric against Stats.
func TestMetricsAgreeWithStatsForEveryDropReason(t *testing.T) {
	mp, reader := newMeterProvider(t)
	small := memguard.RecordSize(record("s", log.SeverityInfo))
	budget := 8 * small
	// medium fits the budget, but not next to three small records.
	medBody := "m"
	for memguard.RecordSize(record(medBody, log.SeverityInfo)) <= budget-3*small {
		medBody += strings.Repeat("m", 16)
	}
	require.LessOrEqual(t, memguard.RecordSize(record(medBody, log.SeverityInfo)), budget-2*small)
	huge := strings.Repeat("h", int(budget))

	exp := newScriptedExporter()
	p := newProcessor(t, exp, WithMaxQueueSize(4), WithExportMaxBatchSize(2), WithMaxQueueBytes(budget),
		WithExportInterval(time.Hour), WithoutRetry(), WithMeterProvider(mp), WithName("pipeline"),
		WithoutDropAlerts())
	ctx := context.Background()
	emitN := func(n int, body string) {
		for range n {
			require.NoError(t, p.OnEmit(ctx, observed(body)))
		}
	}

	emitN(2, "s") // a full batch: export #0 succeeds
	(<-exp.calls) <- nil
	emitN(2, "s") // export #1 hangs for now
	reply1 := <-exp.calls
	emitN(5, "s")         // the fifth evicts one: queue_full
	emitN(1, huge)        // larger than the whole budget: record_too_large
	emitN(1, medBody)     // evicts one for the count (queue_full), then three for the bytes (byte_limit): the budget covers the two in flight
	reply1 <- errBackend  // not retried: export_failed
	reply2 := <-exp.calls // export #2 takes the medium record (half the budget is queued)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, p.Shutdown(cancelled), context.Canceled) // queued and in flight: shutdown
	emitN(1, "s")                                               // already_shutdown
	reply2 <- nil                                               // late: ignored
	waitWorkers(p)

	s := p.Stats()
	requireInvariant(t, s)
	for _, r := range DropReasons() {
		switch r {
		case DropBlockTimeout, DropHeapPressure, DropShed:
			continue // other settings drop so: TestMetricsBlockTimeout, TestHeapPressure, TestShedAtSource
		case DropSpoolFull, DropSpoolAge:
			continue // a spool drops so: TestSpoolMaxBytes
		}
		require.NotZero(t, s.Dropped[r], "the workload must cause %s", r)
	}
	assert.Equal(t, map[DropReason]uint64{
		DropQueueFull: 2, DropByteLimit: 3, DropRecordTooLarge: 1,
		DropAlreadyShutdown: 1, DropShutdown: 1, DropExportFailed: 2,
	}, s.Dropped)

	processed, name := points(t, reader, "otel.sdk.processor.log.processed")
	assert.Equal(t, "pipeline", name)
	want := map[string]int64{"": int64(s.Exported)}
	for _, r := range DropReasons() {
		want[string(r)] = int64(s.Dropped[r])
	}
	assert.Equal(t, want, processed, "processed agrees with Stats for every outcome")

	for metric, v := range map[string]int64{
		"otel.sdk.processor.log.queue.size":        int64(s.Queued),
		"otel.sdk.processor.log.queue.capacity":    4,
		"steadylog.processor.queue.bytes":          s.QueuedBytes,
		"steadylog.processor.queue.bytes.capacity": budget,
	} {
		got, _ := points(t, reader, metric)
		assert.Equal(t, map[string]int64{"": v}, got, metric)
	}

	// Three exports: two ended well (one after Shutdown gave up on it),
	// one failed.
	dur, _ := points(t, reader, "steadylog.processor.export.duration")
	assert.Equal(t, map[string]int64{"": 2, "transient": 1}, dur)
	// Export #2 carried one record: the other of its batch was evicted
	// while queued.
	wait, _ := points(t, reader, "steadylog.processor.queue.wait")
	assert.Equal(t, map[string]int64{"": 3, "transient": 2}, wait)
}

func TestMetricsFollowTheQueue(t *testing.T) {
	mp, reader := newMeterProvider(t)
	gate := make(chan struct{})
	exp := &recordingExporter{gate: gate, entered: make(chan struct{}, 100)}
	p := newProcessor(t, exp, WithExportMaxBatchSize(1), WithExportInterval(time.Hour), WithMeterProvider(mp), WithoutDropAlerts())
	emit(t, p, "a", log.SeverityInfo) // in flight, held by the gate
	<-exp.entered
	emit(t, p, "b", log.SeverityInfo)
	emit(t, p, "c", log.SeverityInfo)

	size, name := points(t, reader, "otel.sdk.processor.log.queue.size")
	assert.Regexp(t, `^steadylog_batching_log_processor/\d+$`, name, "default component name")
	assert.Equal(t, int64(2), size[""])
	bytes, _ := points(t, reader, "steadylog.processor.queue.bytes")
	assert.Equal(t, p.Stats().QueuedBytes, bytes[""])
	shutdownNow(t, p, gate)
	size, _ = points(t, reader, "otel.sdk.processor.log.queue.size")
	assert.Zero(t, size[""], "collectable after Shutdown")
}

func TestDefaultNamesAreDistinct(t *testing.T) {
	a := newProcessor(t, &recordingExporter{}, WithoutDropAlerts())
	b := newProcessor(t, &recordingExporter{}, WithoutDropAlerts())
	defer shutdownNow(t, a, nil)
	defer shutdownNow(t, b, nil)
	assert.NotEqual(t, a.tel.name, b.tel.name)
}

func TestRecordingExportMetricsDoesNotAllocate(t *testing.T) {
	mp, _ := newMeterProvider(t)
	p := newProcessor(t, &recordingExporter{}, WithMeterProvider(mp), WithoutDropAlerts())
	defer shutdownNow(t, p, nil)
	recs := []sdklog.Record{*observed("a"), *observed("b"), *observed("c")}
	started := time.Now()
	ctx := context.Background()
	p.tel.exported(ctx, &p.dests[0].tel, recs, started, nil) // first use of each series may allocate
	p.tel.exported(ctx, &p.dests[0].tel, recs, started, errBackend)
	assert.Zero(t, testing.AllocsPerRun(100, func() { p.tel.exported(ctx, &p.dests[0].tel, recs, started, nil) }),
		"a successful export records without allocating")
	// Classifying an error may allocate (errors.As), once per failed
	// export, never per record.
	assert.LessOrEqual(t, testing.AllocsPerRun(100, func() { p.tel.exported(ctx, &p.dests[0].tel, recs, started, errBackend) }), 1.0)
}

func TestWithoutMeterProviderRecordsNothing(t *testing.T) {
	p := newProcessor(t, &recordingExporter{}, WithoutDropAlerts())
	defer shutdownNow(t, p, nil)
	assert.False(t, p.tel.metrics)
	allocs := testing.AllocsPerRun(100, func() {
		p.tel.exported(context.Background(), &p.dests[0].tel, nil, time.Now(), errBackend)
	})
	assert.Zero(t, allocs)
}

func TestErrClass(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: boom", errPanicked):                         "panic",
		fmt.Errorf("x: %w", &breaker.OpenError{}):                   "breaker_open",
		retry.Permanent(errBackend):                                 "permanent",
		fmt.Errorf("post: %w", context.DeadlineExceeded):            "timeout",
		context.Canceled:                                            "canceled",
		errBackend:                                                  "transient",
		errors.Join(errBackend, retry.Permanent(errors.New("bad"))): "permanent",
	} {
		assert.Equal(t, want, errClassNames[errClass(err)], "%v", err)
	}
}

func TestTelemetryOptionsRejectBadInput(t *testing.T) {
	l := slog.New(slog.DiscardHandler)
	for name, opt := range map[string]Option{
		"nil meter provider":   WithMeterProvider(nil),
		"empty name":           WithName(""),
		"nil alert logger":     WithDropAlerts(nil, time.Second),
		"zero alert interval":  WithDropAlerts(l, 0),
		"negative alert intvl": WithDropAlerts(l, -time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(&recordingExporter{}, opt)
			require.ErrorIs(t, err, ErrInvalidOption)
			assert.Nil(t, p)
		})
	}
}

// lineHandler sends the message of each record it handles on a channel.
type lineHandler struct{ lines chan string }

func (h lineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h lineHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.lines <- msg
	return nil
}
func (h lineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h lineHandler) WithGroup(string) slog.Handler      { return h }

// TestDropAlertsWhileTheExporterHangs drives the alerter with the fake
// clock. A summary covers the time from the previous check to its own, and
// a tick's check reads the drops at a moment the test cannot see when it
// writes nothing. So the test emits only while no tick is being handled:
// before the tick that is to count the drops, or once the line of the
// previous one is out; the check that finds nothing new is a Report, which
// returns when it is done.
func TestDropAlertsWhileTheExporterHangs(t *testing.T) {
	lines := make(chan string, 10)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	gate := make(chan struct{})
	exp := &recordingExporter{gate: gate, entered: make(chan struct{}, 100)}
	p := newProcessor(t, exp, WithMaxQueueSize(2), WithExportMaxBatchSize(1), WithName("audit"),
		WithDropAlerts(slog.New(lineHandler{lines}), 10*time.Second),
		optionFunc(func(c *config) { c.tel.alertClock = clk }))
	require.Equal(t, []time.Duration{10 * time.Second}, clk.Periods(), "the alerter's ticker runs on the fake clock")
	// The same logger also gets back-pressure lines; this test is about
	// the drop summaries.
	drops := func() string {
		for l := range lines {
			if strings.HasPrefix(l, "dropped") {
				return l
			}
		}
		return ""
	}
	emit(t, p, "held", log.SeverityInfo)
	<-exp.entered // the exporter now hangs
	for i := range 5 {
		emit(t, p, fmt.Sprint(i), log.SeverityInfo) // queue of 2: three evicted
	}
	clk.AdvanceAndWait(10 * time.Second)
	assert.Equal(t, "dropped 3 log records in the last 10s: queue_full=3 dropped=3 otel.component.name=audit", drops())

	clk.Advance(5 * time.Second) // no tick: the next is at 20s
	assert.False(t, p.tel.alerter.Report(), "nothing new: no line")
	emit(t, p, "x", log.SeverityInfo)
	clk.AdvanceAndWait(5 * time.Second)
	assert.Equal(t, "dropped 1 log records in the last 5s: queue_full=1 dropped=1 otel.component.name=audit", drops(),
		"one line for the new drops only, covering the time since the last check")

	emit(t, p, "y", log.SeverityInfo)
	clk.Advance(time.Second)
	shutdownNow(t, p, gate)
	assert.Equal(t, "dropped 1 log records in the last 1s: queue_full=1 dropped=1 otel.component.name=audit", drops(),
		"Shutdown reports what was not reported yet")
	assert.Empty(t, clk.Periods(), "Shutdown stopped the alerter's ticker")
	for len(lines) > 0 {
		assert.NotContains(t, <-lines, "dropped")
	}
}

func TestDropAlertsDefaultOnAndCanBeTurnedOff(t *testing.T) {
	clk := clock.NewFake(time.Now())
	on := newProcessor(t, &recordingExporter{}, optionFunc(func(c *config) { c.tel.alertClock = clk }))
	defer shutdownNow(t, on, nil)
	require.NotNil(t, on.tel.alerter)
	assert.Equal(t, []time.Duration{telemetry.DefaultAlertInterval}, clk.Periods())

	off := newProcessor(t, &recordingExporter{}, WithDropAlerts(slog.New(slog.DiscardHandler), time.Minute), WithoutDropAlerts())
	defer shutdownNow(t, off, nil)
	assert.Nil(t, off.tel.alerter)
}

// BenchmarkExportedMetrics measures the worker's cost of recording the
// histograms for one batch of 512 records, reported per record.
func BenchmarkExportedMetrics(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p, err := New(&recordingExporter{}, WithMeterProvider(mp), WithoutDropAlerts())
	require.NoError(b, err)
	defer func() { _ = p.Shutdown(context.Background()) }()
	recs := make([]sdklog.Record, DefaultExportMaxBatchSize)
	for i := range recs {
		recs[i] = *observed("r")
	}
	ctx := context.Background()
	started := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.tel.exported(ctx, &p.dests[0].tel, recs, started, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func TestQueueWaitIsSampledEvenlyInLargeBatches(t *testing.T) {
	mp, reader := newMeterProvider(t)
	p := newProcessor(t, &recordingExporter{}, WithMeterProvider(mp), WithoutDropAlerts())
	defer shutdownNow(t, p, nil)
	end := time.Now()
	recs := make([]sdklog.Record, 10*queueWaitSamples)
	for i := range recs {
		// The oldest waited longest: 1000s down to 681s.
		recs[i].SetObservedTimestamp(end.Add(-time.Duration(1000-i) * time.Second))
	}
	p.tel.exported(context.Background(), &p.dests[0].tel, recs, end, nil)
	p.tel.exported(context.Background(), &p.dests[0].tel, recs[:5], end, nil) // small: every record

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var h metricdata.HistogramDataPoint[float64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == telemetry.MetricQueueWait {
				h = m.Data.(metricdata.Histogram[float64]).DataPoints[0]
			}
		}
	}
	assert.Equal(t, uint64(queueWaitSamples+5), h.Count)
	maxWait, _ := h.Max.Value()
	minWait, _ := h.Min.Value()
	assert.Greater(t, maxWait, 999.0, "the oldest record is always sampled")
	assert.Less(t, minWait, 700.0, "samples reach the end of the batch")
}
