package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

// TestSelfTelemetryReachesPrometheus sends the processor's own metrics over
// OTLP to the collector, lets Prometheus scrape the collector's Prometheus
// exporter, and checks that the series the Grafana dashboard plots exist
// under the names the dashboard uses — the path the docker-compose demo takes.
func TestSelfTelemetryReachesPrometheus(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	prom := harness.PrometheusBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	col := harness.StartCollector(t, otelcol)
	p := harness.StartPrometheus(t, prom,
		harness.ScrapeTarget{Job: "steadylog", Addr: col.PromExporterAddr},
		harness.ScrapeTarget{Job: "otelcol", Addr: col.TelemetryAddr},
	)

	metricExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(col.HTTPAddr), otlpmetrichttp.WithInsecure())
	require.NoError(t, err)
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(200*time.Millisecond))))
	// With a spool, so that its metrics (the dashboard's Spool row) are
	// reported too: it syncs every 200 ms, which the sync histogram times.
	proc, err := processor.New(newOTLPExporter(ctx, t, overHTTP, col), processor.WithMeterProvider(meters),
		processor.WithSpool(t.TempDir(), processor.WithSpoolSyncInterval(200*time.Millisecond)))
	require.NoError(t, err)
	logger, provider := newSlog(proc)

	const n = 1000
	emitParallel(ctx, logger, n, 2)
	require.NoError(t, provider.ForceFlush(ctx))

	// The exported count reaches Prometheus: OTLP metrics → collector →
	// Prometheus exporter → scrape.
	_, err = p.API.WaitQuery(ctx, `sum(otel_sdk_processor_log_processed_total{job="steadylog",error_type=""})`,
		func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value == n })
	require.NoError(t, err)

	// Every metric the dashboard plots exists, except the breaker's (no breaker
	// in this pipeline).
	for _, name := range dashboardMetrics(t) {
		if regexp.MustCompile(`^steadylog_breaker_`).MatchString(name) {
			continue
		}
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		samples, err := p.API.WaitQuery(qctx, `count({__name__="`+name+`"})`,
			func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value > 0 })
		qcancel()
		assert.NoError(t, err, "dashboard metric %s has no series (%v)", name, samples)
	}

	require.NoError(t, provider.Shutdown(ctx))
	require.NoError(t, meters.Shutdown(ctx))
}

// dashboardMetrics returns the metric names used in the provisioned dashboard's
// queries.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "steadylog.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	name := regexp.MustCompile(`\b((?:otel_sdk|steadylog|otelcol)_[a-z0-9_]+)`)
	seen := map[string]bool{}
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					out = append(out, m[1])
				}
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}
