package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/integration/harness"
)

// seqKey is the attribute carrying each record's sequence number, by which the
// tests count distinct records and duplicates in the collector's output.
const seqKey = "seq"

// TestHarnessSelfTest proves the harness against the real parts: a collector
// receives exactly what the SDK's own BatchProcessor sends over OTLP/HTTP, its
// file output counts it, and Prometheus scrapes the collector.
func TestHarnessSelfTest(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	prom := harness.PrometheusBin(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	col := harness.StartCollector(t, otelcol)
	p := harness.StartPrometheus(t, prom,
		harness.ScrapeTarget{Job: "otelcol", Addr: col.PromExporterAddr},
		harness.ScrapeTarget{Job: "otelcol-internal", Addr: col.TelemetryAddr},
	)

	// Prometheus scrapes both collector endpoints: `up` is 1 for each job.
	for _, job := range []string{"otelcol", "otelcol-internal"} {
		_, err := p.API.WaitQuery(ctx, `up{job="`+job+`"}`, func(s []harness.Sample) bool {
			return len(s) == 1 && s[0].Value == 1
		})
		require.NoError(t, err, "up for job %s", job)
	}

	const n = 5000
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	bp := sdklog.NewBatchProcessor(exp, sdklog.WithMaxQueueSize(n))
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(bp))
	logger := provider.Logger("harness-selftest")
	for i := range n {
		var r log.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(log.SeverityInfo)
		r.SetBody(attribute.StringValue(fmt.Sprintf("self-test record %d", i)))
		r.AddAttributes(attribute.Int(seqKey, i))
		logger.Emit(ctx, r)
	}
	require.NoError(t, provider.ForceFlush(ctx))
	require.NoError(t, provider.Shutdown(ctx))

	require.NoError(t, col.WaitForSentLogRecords(ctx, n))
	require.NoError(t, col.Terminate(), "graceful stop flushes the file exporter")
	fc, err := col.Count(seqKey)
	require.NoError(t, err)
	t.Logf("collector file: %s", fc)
	assert.Equal(t, n, fc.Records)
	assert.Equal(t, n, fc.Distinct)
	assert.Zero(t, fc.Duplicates)
	assert.Zero(t, fc.TornLines)
	assert.Empty(t, fc.Missing(n))
}

// TestHarnessSignals checks the process helpers against the real collector:
// SIGSTOP freezes it (requests time out), SIGCONT resumes it, SIGKILL ends it,
// and a restart comes back on the same address with the earlier output kept
// (append: true).
func TestHarnessSignals(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	col := harness.StartCollector(t, otelcol)

	send := func(from, to int) {
		exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
		require.NoError(t, err)
		provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
		logger := provider.Logger("harness-signals")
		for i := from; i < to; i++ {
			var r log.Record
			r.SetBody(attribute.StringValue("signals"))
			r.AddAttributes(attribute.Int(seqKey, i))
			logger.Emit(ctx, r)
		}
		require.NoError(t, provider.Shutdown(ctx))
	}
	send(0, 10)
	require.NoError(t, col.WaitForSentLogRecords(ctx, 10))
	// Sent is not yet written: the file exporter flushes every 100 ms, and
	// a SIGKILL loses what it buffers. The restart below must find the ten
	// records in the file, so wait until they are there.
	_, flushErr := col.WaitForFileRecords(ctx, seqKey, 10)
	require.NoError(t, flushErr)

	metricsURL := "http://" + col.TelemetryAddr + "/metrics"
	short := &http.Client{Timeout: 300 * time.Millisecond}
	require.NoError(t, col.Stop())
	_, err := short.Get(metricsURL)
	require.Error(t, err, "a stopped collector must not answer")
	require.NoError(t, col.Cont())
	resp, err := short.Get(metricsURL)
	require.NoError(t, err, "a continued collector answers again")
	require.NoError(t, resp.Body.Close())

	proc := col.Process()
	require.NoError(t, col.Kill())
	assert.True(t, proc.Exited())
	require.NoError(t, col.Start())
	assert.NotEqual(t, proc.Pid(), col.Process().Pid())
	send(10, 20)
	fc, err := col.WaitForFileRecords(ctx, seqKey, 20)
	require.NoError(t, err, "records from before the restart are kept")
	assert.Empty(t, fc.Missing(20))
}
