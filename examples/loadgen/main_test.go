package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/integration/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunAgainstCollector runs loadgen for a second against a real collector
// (the integration harness's; skipped without STEADYLOG_OTELCOL_BIN) and
// checks that its records arrived and that the processor's exported counter,
// sent over OTLP metrics to the same collector, agrees with what the
// collector wrote.
func TestRunAgainstCollector(t *testing.T) {
	col := harness.StartCollector(t, harness.OtelcolBin(t))
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+col.HTTPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const rate = 2000
	require.NoError(t, run(rate, 64, time.Second))

	// The shutdown flushed both pipelines: the final metric export carries
	// the final count, and the collector serves it on its Prometheus exporter.
	exported, err := harness.ScrapeMetric(ctx, "http://"+col.PromExporterAddr+"/metrics",
		"otel_sdk_processor_log_processed_total", map[string]string{"error_type": ""})
	require.NoError(t, err)
	require.Positive(t, exported, "the processor's exported counter reached the collector")
	// About rate records in one second; the first tick comes after 10 ms.
	assert.InDelta(t, rate, exported, rate/4, "records exported in 1 s at %d/s", rate)

	fc, err := col.WaitForFileRecords(ctx, "seq", int(exported))
	require.NoError(t, err)
	assert.Equal(t, int(exported), fc.Distinct, "the collector wrote what the processor counted as exported")
	assert.Empty(t, fc.Missing(int(exported)), "records numbered from 0 without gaps")
	t.Logf("exported counter %v; collector file: %s", exported, fc)
}

func TestRunRejectsBadInput(t *testing.T) {
	assert.EqualError(t, run(0, 128, time.Second), "-rate must be positive")
	assert.EqualError(t, run(100, -1, time.Second), "-size must not be negative")
}
