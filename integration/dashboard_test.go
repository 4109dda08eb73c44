package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

// dashboardQuery is one PromQL expression of a dashboard panel.
type dashboardQuery struct {
	File, Panel, RefID, Expr string
}

// spool reports whether q plots the durable spool's metrics, which exist
// only for a processor with a spool (processor.WithSpool).
func (q dashboardQuery) spool() bool {
	return strings.Contains(q.Expr, "steadylog_processor_spool_")
}

func (q dashboardQuery) String() string {
	return fmt.Sprintf("%s: panel %q target %s: %s", q.File, q.Panel, q.RefID, q.Expr)
}

// dashboardPanel is the part of a Grafana panel the test reads; rows nest
// their panels.
type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// dashboardQueries returns every target expression of every dashboard in
// deploy/grafana/dashboards, walking nested (row) panels too.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards")
	var out []dashboardQuery
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var dash struct {
			Panels []dashboardPanel `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &dash), f)
		var walk func([]dashboardPanel)
		walk = func(ps []dashboardPanel) {
			for _, p := range ps {
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) != "" {
						out = append(out, dashboardQuery{File: filepath.Base(f), Panel: p.Title, RefID: tg.RefID, Expr: tg.Expr})
					}
				}
				walk(p.Panels)
			}
		}
		walk(dash.Panels)
	}
	require.NotEmpty(t, out, "the dashboards have no queries")
	return out
}

// TestGrafanaExprSubstitution checks the substitution of Grafana's interval
// variables the dashboard test relies on.
func TestGrafanaExprSubstitution(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x[$__rate_interval])`:                     `rate(x[60s])`,
		`rate(x[${__rate_interval}])`:                   `rate(x[60s])`,
		`rate(x[$__interval]) / $__interval_ms`:         `rate(x[60s]) / 60000`,
		`increase(x[$__range]) / $__range_s`:            `increase(x[60s]) / 60`,
		`sum(rate(y{a!=""}[1m]))`:                       `sum(rate(y{a!=""}[1m]))`,
		`x offset ${__range_ms}ms + $__range_ms`:        `x offset 60000ms + 60000`,
		`histogram_quantile(0.5, rate(b[$__interval]))`: `histogram_quantile(0.5, rate(b[60s]))`,
	} {
		assert.Equal(t, want, harness.GrafanaExpr(in, time.Minute), in)
	}
	assert.Equal(t, `rate(x[1500ms])`, harness.GrafanaExpr(`rate(x[$__rate_interval])`, 1500*time.Millisecond))
}

// TestDashboardQueriesReturnData runs every PromQL expression of the
// provisioned Grafana dashboards against a real Prometheus that scrapes a
// real collector fed by three steadylog pipelines — one to the collector under
// a load that makes it drop records, one to a backend that is down, so that
// its breaker opens, and one with a durable spool — with breaker metrics on:
// a query that never returns data is a panel that would stay empty in the
// demo.
func TestDashboardQueriesReturnData(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	prom := harness.PrometheusBin(t)
	queries := dashboardQueries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	col := harness.StartCollector(t, otelcol)
	p := harness.StartPrometheus(t, prom,
		harness.ScrapeTarget{Job: "steadylog", Addr: col.PromExporterAddr},
		harness.ScrapeTarget{Job: "otelcol", Addr: col.TelemetryAddr},
	)

	metricExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(col.HTTPAddr), otlpmetrichttp.WithInsecure())
	require.NoError(t, err)
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(500*time.Millisecond))))
	otlp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	b := breaker.MustNew(breaker.Config{Name: "collector"})
	// A queue of 256 records takes bursts of 1000: most of each burst is
	// dropped (queue_full), so the drop panels have series.
	proc, err := processor.New(exporter.MustBreaker(otlp, b, exporter.WithBreakerMeterProvider(meters)),
		processor.WithName("dashboard"),
		processor.WithMeterProvider(meters),
		processor.WithMaxQueueSize(256),
		processor.WithExportInterval(100*time.Millisecond),
		processor.WithoutDropAlerts(),
	)
	require.NoError(t, err)
	// A second pipeline, to a backend that is down (nothing listens on the
	// port: connection refused), gives the export-error and breaker panels
	// something to show: its breaker opens, probes and reopens.
	deadAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePorts(t, 1)[0])
	dead, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(deadAddr), otlploghttp.WithInsecure(),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	deadBreaker := breaker.MustNew(breaker.Config{Name: "audit", ConsecutiveFailures: 2, OpenTimeout: 500 * time.Millisecond,
		MaxOpenTimeout: time.Second})
	deadProc, err := processor.New(exporter.MustBreaker(dead, deadBreaker, exporter.WithBreakerMeterProvider(meters)),
		processor.WithName("audit"),
		processor.WithMeterProvider(meters),
		processor.WithExportInterval(100*time.Millisecond),
		processor.WithRetryMaxElapsed(time.Second),
		processor.WithErrorHandler(func(error) {}), // the failures are the point
		processor.WithoutDropAlerts(),
	)
	require.NoError(t, err)
	// A third, with a durable spool, to the collector: the Spool row's
	// metrics exist only for a processor that has one. It syncs every
	// 200 ms, which the sync histogram times.
	spoolOTLP, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	spoolProc, err := processor.New(spoolOTLP,
		processor.WithName("spooled"),
		processor.WithMeterProvider(meters),
		processor.WithSpool(t.TempDir(), processor.WithSpoolSyncInterval(200*time.Millisecond)),
		processor.WithExportInterval(100*time.Millisecond),
		processor.WithoutDropAlerts(),
	)
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc), sdklog.WithProcessor(deadProc), sdklog.WithProcessor(spoolProc))
	logger := otelslog.NewLogger("steadylog-dashboard", otelslog.WithLoggerProvider(provider))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Bursts of 1000 every 100 ms overflow the small queue: drops to show.
	wg.Go(func() { emitPaced(ctx, logger, 100*time.Millisecond, 1000, nil, stop) })
	defer func() {
		close(stop)
		wg.Wait()
		// The dead pipeline cannot deliver what it holds: give it no time,
		// it counts the rest as dropped. (The provider's Shutdown then finds
		// it shut down already.)
		deadCtx, deadCancel := context.WithCancel(context.Background())
		deadCancel()
		assert.Error(t, deadProc.Shutdown(deadCtx))
		dst := deadProc.Stats()
		assert.Equal(t, dst.Received, dst.Exported+dst.TotalDropped(), "the dead pipeline accounts for every record")
		shutdownCtx, shutdownCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer shutdownCancel()
		assert.NoError(t, provider.Shutdown(shutdownCtx))
		assert.NoError(t, meters.Shutdown(shutdownCtx))
	}()

	// One deadline for all: the first rate() needs two scrapes of the first
	// export, the rest are then answered at once.
	qctx, qcancel := context.WithTimeout(ctx, 60*time.Second)
	defer qcancel()
	start := time.Now()
	var empty []string
	for _, q := range queries {
		expr := harness.GrafanaExpr(q.Expr, time.Minute)
		got, err := p.API.WaitQuery(qctx, expr, func(s []harness.Sample) bool { return len(s) > 0 })
		if err != nil {
			empty = append(empty, fmt.Sprintf("%s (as run: %s): %v", q, expr, err))
			continue
		}
		t.Logf("%v %d series, e.g. %v = %g", time.Since(start).Round(time.Millisecond), len(got), got[0].Metric, got[0].Value)
	}
	st := proc.Stats()
	t.Logf("%d queries from the dashboards, %d without data, in %v; collector pipeline: %s, breaker %s; "+
		"dead pipeline: %s, breaker %s, %d transitions; spooled pipeline: %s, spool %+v",
		len(queries), len(empty), time.Since(start).Round(time.Millisecond), st, b.State(),
		deadProc.Stats(), deadBreaker.State(), deadBreaker.Transitions().Total(), spoolProc.Stats(), spoolProc.Stats().Spool)
	assert.Empty(t, empty, "dashboard queries that never returned data")
	assert.Positive(t, st.Dropped[processor.DropQueueFull], "the load made the processor drop records")
}
