package processor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/telemetry"
)

// spoolInts returns the int64 spool metrics of one collection of reader
// (sums and gauges by name, the sync histogram as its count), the oldest
// age, and the otel.component.name of every spool series.
func spoolInts(t *testing.T, reader *sdkmetric.ManualReader) (ints map[string]int64, age float64, names map[string]bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	ints, names = map[string]int64{}, map[string]bool{}
	age = -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !strings.HasPrefix(m.Name, "steadylog.processor.spool.") {
				continue
			}
			var attrs []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				require.Len(t, d.DataPoints, 1, m.Name)
				ints[m.Name] = d.DataPoints[0].Value
				attrs = append(attrs, d.DataPoints[0].Attributes)
			case metricdata.Gauge[int64]:
				require.Len(t, d.DataPoints, 1, m.Name)
				ints[m.Name] = d.DataPoints[0].Value
				attrs = append(attrs, d.DataPoints[0].Attributes)
			case metricdata.Gauge[float64]:
				require.Len(t, d.DataPoints, 1, m.Name)
				age = d.DataPoints[0].Value
				attrs = append(attrs, d.DataPoints[0].Attributes)
			case metricdata.Histogram[float64]:
				require.Len(t, d.DataPoints, 1, m.Name)
				ints[m.Name] = int64(d.DataPoints[0].Count)
				assert.Equal(t, telemetry.DurationBuckets(), d.DataPoints[0].Bounds, m.Name)
				attrs = append(attrs, d.DataPoints[0].Attributes)
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			for _, a := range attrs {
				ct, _ := a.Value(telemetry.KeyComponentType)
				cn, _ := a.Value(telemetry.KeyComponentName)
				assert.Equal(t, telemetry.ComponentTypeProcessor, ct.AsString(), m.Name)
				assert.Equal(t, 2, a.Len(), "%s: only the component's attributes", m.Name)
				names[cn.AsString()] = true
			}
		}
	}
	return ints, age, names
}

// spoolSyncs returns the count of the spool's sync duration histogram,
// or 0 when reader has none (or fails); a condition for Eventually.
func spoolSyncs(reader *sdkmetric.ManualReader) uint64 {
	var rm metricdata.ResourceMetrics
	if reader.Collect(context.Background(), &rm) != nil {
		return 0
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == telemetry.MetricSpoolSyncDuration && len(h.DataPoints) > 0 {
				return h.DataPoints[0].Count
			}
		}
	}
	return 0
}

// TestSpoolMetricsAgreeWithStats: with a spool, each spool metric is what
// Stats().Spool says — while records wait in the spool, after a Shutdown
// that leaves them there, and at the next start that recovers them — and
// every fsync is timed.
func TestSpoolMetricsAgreeWithStats(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	var errs errorLog
	mp, reader := newMeterProvider(t)
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, spoolOpts(dir, &errs, WithMeterProvider(mp), WithName("spooled"))...)
	require.NoError(t, err)
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	// The exporter hangs: every record stays in the spool. The spooler
	// syncs after its writes (sync interval 0).
	require.Eventually(t, func() bool {
		return spoolWritten(p) && p.Stats().Spool.Records == n && spoolSyncs(reader) > 0
	}, 10*time.Second, time.Millisecond)

	s := p.Stats().Spool
	before := time.Now()
	got, age, names := spoolInts(t, reader)
	after := time.Now()
	assert.Equal(t, map[string]bool{"spooled": true}, names)
	require.Positive(t, s.Bytes)
	require.False(t, s.Oldest.IsZero())
	syncs := got[telemetry.MetricSpoolSyncDuration]
	assert.Positive(t, syncs)
	delete(got, telemetry.MetricSpoolSyncDuration)
	assert.Equal(t, map[string]int64{
		telemetry.MetricSpoolBytes:            s.Bytes,
		telemetry.MetricSpoolRecords:          n,
		telemetry.MetricSpoolDegraded:         0,
		telemetry.MetricSpoolDamaged:          0,
		telemetry.MetricSpoolErrors:           0,
		telemetry.MetricSpoolRecovered:        0,
		telemetry.MetricSpoolResent:           0,
		telemetry.MetricSpoolLeftForNextStart: 0,
	}, got)
	assert.GreaterOrEqual(t, age, before.Sub(s.Oldest).Seconds())
	assert.LessOrEqual(t, age, after.Sub(s.Oldest).Seconds())

	// A Shutdown that cannot deliver leaves the records for the next
	// start, and syncs once more.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate)
	waitWorkers(p)
	s = p.Stats().Spool
	require.Equal(t, uint64(n), s.LeftForNextStart)
	got, _, _ = spoolInts(t, reader)
	assert.Equal(t, int64(n), got[telemetry.MetricSpoolLeftForNextStart], "collectable after Shutdown")
	assert.Equal(t, s.Bytes, got[telemetry.MetricSpoolBytes])
	assert.Greater(t, got[telemetry.MetricSpoolSyncDuration], syncs, "Shutdown's sync is timed too")

	// The next start recovers them.
	mp2, reader2 := newMeterProvider(t)
	gate := make(chan struct{})
	exp := &spoolExporter{gate: gate}
	p2, err := New(exp, spoolOpts(dir, &errs, WithMeterProvider(mp2), WithName("restarted"))...)
	require.NoError(t, err)
	s = p2.Stats().Spool
	require.Equal(t, uint64(n), s.Recovered)
	got, age, names = spoolInts(t, reader2)
	assert.Equal(t, map[string]bool{"restarted": true}, names)
	assert.Equal(t, int64(n), got[telemetry.MetricSpoolRecovered])
	assert.Equal(t, int64(s.Resent), got[telemetry.MetricSpoolResent])
	assert.Equal(t, int64(n), got[telemetry.MetricSpoolRecords])
	assert.Positive(t, age, "the recovered records were written before the restart")
	close(gate)
	require.NoError(t, p2.Shutdown(context.Background()))
	s = p2.Stats().Spool
	got, age, _ = spoolInts(t, reader2)
	assert.Zero(t, got[telemetry.MetricSpoolRecords], "every record delivered: %+v", s)
	assert.Zero(t, got[telemetry.MetricSpoolLeftForNextStart])
	assert.Zero(t, age, "0 when the spool holds no record")
	assert.Equal(t, n, exp.count())
	assert.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// TestSpoolMetricsDegraded: a spool that cannot be opened shows as
// degraded, with its error counted.
func TestSpoolMetricsDegraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	var errs errorLog
	mp, reader := newMeterProvider(t)
	p, err := New(&spoolExporter{}, spoolOpts(path, &errs, WithMeterProvider(mp))...)
	require.NoError(t, err)
	defer shutdownNow(t, p, nil)
	s := p.Stats().Spool
	require.True(t, s.Degraded)
	got, age, _ := spoolInts(t, reader)
	assert.Equal(t, int64(1), got[telemetry.MetricSpoolDegraded])
	assert.Equal(t, int64(s.Errors), got[telemetry.MetricSpoolErrors])
	assert.Equal(t, int64(1), got[telemetry.MetricSpoolErrors])
	assert.Zero(t, got[telemetry.MetricSpoolBytes])
	assert.Zero(t, age)
	_, synced := got[telemetry.MetricSpoolSyncDuration]
	assert.False(t, synced, "a spool that was never opened never syncs")
}

// TestNoSpoolNoSpoolMetrics: without WithSpool no spool instrument is
// registered, and timing a sync records nothing.
func TestNoSpoolNoSpoolMetrics(t *testing.T) {
	mp, reader := newMeterProvider(t)
	p := newProcessor(t, &recordingExporter{}, WithMeterProvider(mp), WithoutDropAlerts())
	defer shutdownNow(t, p, nil)
	called := false
	require.ErrorIs(t, p.tel.timeSpoolSync(func() error { called = true; return errBackend }), errBackend)
	require.True(t, called)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var all []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			all = append(all, m.Name)
		}
	}
	require.Contains(t, all, telemetry.MetricQueueBytes, "the processor's metrics are collected")
	for _, name := range all {
		assert.False(t, strings.HasPrefix(name, "steadylog.processor.spool."), "%s registered without a spool", name)
	}
}
