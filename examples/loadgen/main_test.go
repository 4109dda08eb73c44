package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
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
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/processor"
	"github.com/steadylog/steadylog/telemetry"

	"github.com/steadylog/steadylog/integration/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunAgainstCollector runs loadgen for a second against a real collector
// (the integration harness's; skipped without STEADYLOG_OTELCOL_BIN) and
// checks that its records arrived and that the processor's exported counter,
// sent over OTLP metrics to the same collector, agrees with what the
// collector wrote, and that the exporter runs behind the circuit breaker,
// whose state metric reaches the collector too.
func TestRunAgainstCollector(t *testing.T) {
	col := harness.StartCollector(t, harness.OtelcolBin(t))
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+col.HTTPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const rate = 2000
	require.NoError(t, run(rate, 64, time.Second, metricsOTLP, ""))

	// The shutdown flushed both pipelines: the final metric export carries
	// the final count, and the collector serves it on its Prometheus exporter.
	exported, err := harness.ScrapeMetric(ctx, "http://"+col.PromExporterAddr+"/metrics",
		"otel_sdk_processor_log_processed_total", map[string]string{"error_type": ""})
	require.NoError(t, err)
	require.Positive(t, exported, "the processor's exported counter reached the collector")
	// About rate records in one second; the first tick comes after 10 ms.
	assert.InDelta(t, rate, exported, rate/4, "records exported in 1 s at %d/s", rate)

	// The exporter is guarded by the circuit breaker, observed through the
	// same MeterProvider: its state series reached the collector (absent,
	// every scrape below would read 0), and it stayed closed against a
	// healthy collector.
	for state, want := range map[string]float64{"closed": 1, "open": 0, "half-open": 0} {
		v, err := harness.ScrapeMetric(ctx, "http://"+col.PromExporterAddr+"/metrics", "steadylog_breaker_state",
			map[string]string{"otel_component_name": breakerName, "state": state})
		require.NoError(t, err)
		assert.Equal(t, want, v, "steadylog_breaker_state{otel_component_name=%q,state=%q}", breakerName, state)
	}

	fc, err := col.WaitForFileRecords(ctx, "seq", int(exported))
	require.NoError(t, err)
	assert.Equal(t, int(exported), fc.Distinct, "the collector wrote what the processor counted as exported")
	assert.Empty(t, fc.Missing(int(exported)), "records numbered from 0 without gaps")
	t.Logf("exported counter %v; collector file: %s", exported, fc)
}

func TestRunRejectsBadInput(t *testing.T) {
	assert.EqualError(t, run(0, 128, time.Second, metricsNone, ""), "-rate must be positive")
	assert.EqualError(t, run(100, -1, time.Second, metricsNone, ""), "-size must not be negative")
}

// failingExporter fails every export, as an unreachable collector does.
type failingExporter struct{ calls atomic.Int64 }

func (e *failingExporter) Export(context.Context, []sdklog.Record) error {
	e.calls.Add(1)
	return errors.New("connection refused")
}
func (e *failingExporter) ForceFlush(context.Context) error { return nil }
func (e *failingExporter) Shutdown(context.Context) error   { return nil }

// TestPipelineBreakerOpensOnOutage checks that loadgen's exporter runs behind
// the circuit breaker: against a backend that fails every export the breaker
// opens, stops the calls to the exporter, and reports the open state as
// steadylog.breaker.state through the pipeline's MeterProvider, as the demo
// dashboard's breaker panels expect during an outage.
func TestPipelineBreakerOpensOnOutage(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	exp := &failingExporter{}
	proc, b, err := newPipeline(exp, meters,
		processor.WithExportInterval(5*time.Millisecond),
		processor.WithRetryBackoff(time.Millisecond, 5*time.Millisecond),
		processor.WithoutDropAlerts(),
		processor.WithErrorHandler(func(error) {})) // the failures are the point
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := provider.Logger("loadgen-test")
	emit := func() {
		var r log.Record
		r.SetBody(attribute.StringValue("x"))
		logger.Emit(context.Background(), r)
	}

	require.Eventually(t, func() bool {
		emit()
		return b.State() == breaker.Open
	}, 10*time.Second, 5*time.Millisecond, "the breaker never opened")
	opened := exp.calls.Load()
	assert.Positive(t, opened, "the breaker opened on the exporter's failures")
	// While it is open the exporter is not called at all.
	for range 10 {
		emit()
	}
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_ = proc.ForceFlush(flushCtx)
	cancelFlush()
	assert.Equal(t, opened, exp.calls.Load(), "the open breaker kept the batches from the dead exporter")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	assert.Equal(t, int64(1), breakerState(t, rm, "open"), "steadylog.breaker.state{state=open}")
	assert.Equal(t, int64(0), breakerState(t, rm, "closed"), "steadylog.breaker.state{state=closed}")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = provider.Shutdown(ctx) // drops what the dead backend never took
	require.NoError(t, meters.Shutdown(ctx))
	t.Logf("breaker opened after %d exporter calls; %s", opened, proc.Stats())
}

// breakerState is the value of steadylog.breaker.state for loadgen's breaker
// in the given state; the test fails if the series is missing.
func breakerState(t *testing.T, rm metricdata.ResourceMetrics, state string) int64 {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != telemetry.MetricBreakerState {
				continue
			}
			g, ok := m.Data.(metricdata.Gauge[int64])
			require.True(t, ok, "steadylog.breaker.state is %T", m.Data)
			for _, dp := range g.DataPoints {
				name, _ := dp.Attributes.Value(telemetry.KeyComponentName)
				st, _ := dp.Attributes.Value(telemetry.KeyState)
				if name.AsString() == breakerName && st.AsString() == state {
					return dp.Value
				}
			}
		}
	}
	t.Fatalf("no steadylog.breaker.state series for breaker %q, state %q", breakerName, state)
	return 0
}

// TestFinalLine checks the machine-readable exit line that
// integration/compose_test.go reads from the loadgen container's log: one
// line, the prefix, then JSON that decodes back to the same accounting.
func TestFinalLine(t *testing.T) {
	b := breaker.MustNew(breaker.Config{Name: breakerName})
	st := processor.Stats{Received: 10, Exported: 7, Dropped: map[processor.DropReason]uint64{processor.DropQueueFull: 3}}
	line, err := finalLine(10, b, st)
	require.NoError(t, err)
	require.NotContains(t, line, "\n")
	require.True(t, strings.HasPrefix(line, finalPrefix), line)
	var got finalReport
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, finalPrefix)), &got))
	assert.Equal(t, finalReport{Emitted: 10, Breaker: "closed", Stats: st}, got)
	assert.Contains(t, line, `"dropped_total":3`, "the Stats encoding, with its derived total")
}

// TestPrometheusEndpointDuringOutage checks -metrics prometheus: loadgen
// serves its pipeline's metrics itself, so while the backend fails (here an
// exporter that refuses every export) a scrape shows the breaker open, the
// export errors and the queue, under the names the demo dashboard queries
// (deploy/grafana/gen) — nothing of it travels through the failing backend.
func TestPrometheusEndpointDuringOutage(t *testing.T) {
	m, err := newSelfMetrics(context.Background(), metricsPrometheus, "127.0.0.1:0")
	require.NoError(t, err)
	exp := &failingExporter{}
	proc, b, err := newPipeline(exp, m.provider,
		processor.WithExportInterval(5*time.Millisecond),
		processor.WithRetryBackoff(time.Millisecond, 5*time.Millisecond),
		processor.WithoutDropAlerts(),
		processor.WithErrorHandler(func(error) {}))
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := provider.Logger("loadgen-test")
	require.Eventually(t, func() bool {
		var r log.Record
		r.SetBody(attribute.StringValue("x"))
		logger.Emit(context.Background(), r)
		return b.State() == breaker.Open
	}, 10*time.Second, 5*time.Millisecond, "the breaker never opened")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "http://" + m.addr + "/metrics"
	open, err := harness.ScrapeMetric(ctx, url, "steadylog_breaker_state",
		map[string]string{"otel_component_name": breakerName, "state": "open"})
	require.NoError(t, err)
	assert.Equal(t, 1.0, open, "steadylog_breaker_state{state=open}")
	body := scrapeBody(ctx, t, url)
	for _, name := range []string{
		"steadylog_processor_export_duration_seconds_count", // errors, by error_type
		"otel_sdk_processor_log_queue_size",
		"otel_sdk_processor_log_queue_capacity",
		"steadylog_processor_queue_bytes",
		"steadylog_processor_queue_bytes_capacity",
		"steadylog_breaker_transitions_total",
		"steadylog_processor_backpressure_ratio",
		"otel_sdk_exporter_log_inflight",
		"otel_sdk_exporter_log_exported_total",
	} {
		assert.Regexp(t, `(?m)^`+name+`[{ ]`, body, "%s on loadgen's endpoint", name)
	}
	failed, err := harness.ScrapeMetric(ctx, url, "steadylog_processor_export_duration_seconds_count",
		map[string]string{"error_type": "transient"})
	require.NoError(t, err)
	assert.Positive(t, failed, "failed exports counted while the backend is down")

	_ = provider.Shutdown(ctx) // drops what the dead backend never took
	require.NoError(t, m.Shutdown(ctx))
}

// TestPrometheusSpoolNames checks the names under which a pipeline with a
// spool (processor.WithSpool) serves the spool's metrics, as the demo
// dashboard's Spool row queries them (deploy/grafana/gen).
func TestPrometheusSpoolNames(t *testing.T) {
	m, err := newSelfMetrics(context.Background(), metricsPrometheus, "127.0.0.1:0")
	require.NoError(t, err)
	proc, _, err := newPipeline(&failingExporter{}, m.provider,
		processor.WithSpool(t.TempDir(), processor.WithSpoolSyncInterval(0)),
		processor.WithExportInterval(5*time.Millisecond),
		processor.WithoutDropAlerts(),
		processor.WithErrorHandler(func(error) {}))
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	var r log.Record
	r.SetBody(attribute.StringValue("x"))
	provider.Logger("loadgen-test").Emit(context.Background(), r)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "http://" + m.addr + "/metrics"
	// The spooler writes the record within 20 ms, then syncs.
	require.Eventually(t, func() bool {
		return strings.Contains(scrapeBody(ctx, t, url), "steadylog_processor_spool_sync_duration_seconds_bucket")
	}, 10*time.Second, 10*time.Millisecond, "the spool's first sync")
	body := scrapeBody(ctx, t, url)
	for _, name := range []string{
		"steadylog_processor_spool_bytes",
		"steadylog_processor_spool_records",
		"steadylog_processor_spool_oldest_age_seconds",
		"steadylog_processor_spool_sync_duration_seconds_bucket",
		"steadylog_processor_spool_damaged_total",
		"steadylog_processor_spool_errors_total",
		"steadylog_processor_spool_degraded_ratio",
		"steadylog_processor_spool_recovered_total",
		"steadylog_processor_spool_resent_total",
		"steadylog_processor_spool_left_for_next_start_total",
	} {
		assert.Regexp(t, `(?m)^`+name+`[{ ]`, body, "%s on loadgen's endpoint", name)
	}
	// The backend refuses: what is left stays in the spool. A Shutdown
	// that does not wait for it leaves it there at once.
	ended, end := context.WithCancel(ctx)
	end()
	_ = proc.Shutdown(ended)
	_ = provider.Shutdown(ctx)
	require.NoError(t, m.Shutdown(ctx))
}

func TestSelfMetricsKinds(t *testing.T) {
	_, err := newSelfMetrics(context.Background(), "statsd", "")
	assert.EqualError(t, err, `-metrics "statsd": want otlp, prometheus or none`)
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "9999")
	assert.Equal(t, metricsPrometheus, defaultMetrics())
	assert.Equal(t, "127.0.0.1:9999", defaultMetricsAddr())
}

// scrapeBody returns the text of a metrics endpoint.
func scrapeBody(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}
