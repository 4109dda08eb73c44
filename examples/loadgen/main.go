// Command loadgen writes a steady stream of log records through steadylog to an
// OpenTelemetry Collector, for the demo in docker-compose.yaml and for watching
// the processor's metrics while the backend misbehaves.
//
// Logs go log/slog → otelslog bridge → steadylog processor → circuit breaker
// (exporter.NewBreaker) → OTLP/HTTP, to the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (an http:// URL means no TLS).
//
// The processor's and the breaker's own metrics (steadylog.breaker.state and
// steadylog.breaker.transitions, named "collector") go one of two ways
// (-metrics, by default OTEL_METRICS_EXPORTER):
//
//   - otlp (the default): pushed over OTLP/HTTP metrics to the same
//     collector as the logs. One endpoint to configure, but while that
//     collector is down the metrics describing the outage go nowhere.
//   - prometheus: served at http://-metrics-addr/metrics (by default
//     OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT,
//     localhost:9464) for Prometheus to scrape from the app itself, so the
//     breaker opening, the drops and the export errors stay visible during
//     the outage. The compose demo runs this way.
//
// For example:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 go run ./examples/loadgen -rate 5000 -size 512 -metrics prometheus
//
// Flags:
//
//	-rate 1000      records per second (spread over 10 ms ticks)
//	-size 128       approximate body size in bytes
//	-duration 0     stop after this long; 0 runs until SIGINT/SIGTERM
//	-metrics otlp   where the self-metrics go: otlp, prometheus or none
//	-metrics-addr localhost:9464   the Prometheus endpoint's listen address
//
// On exit it shuts the pipeline down (5 s deadline) and prints the
// breaker's state and the processor's accounting: received, exported and
// dropped by reason, once for people and once as a JSON line for programs
// (integration/compose_test.go reads it from `docker logs`):
//
//	loadgen: final {"emitted":…,"breaker":"closed","breaker_trips":…,"breaker_transitions":…,"stats":{…}}
//
// where "stats" is processor.Stats in its stable JSON encoding.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

const (
	tick = 10 * time.Millisecond
	// breakerName names the breaker's metric series (otel.component.name).
	breakerName = "collector"
)

func main() {
	rate := flag.Int("rate", 1000, "records per second")
	size := flag.Int("size", 128, "approximate body size in bytes")
	duration := flag.Duration("duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	metrics := flag.String("metrics", defaultMetrics(), "where the self-metrics go: otlp, prometheus or none (default: OTEL_METRICS_EXPORTER, else otlp)")
	metricsAddr := flag.String("metrics-addr", defaultMetricsAddr(), "listen address of the Prometheus endpoint (-metrics prometheus)")
	flag.Parse()
	if err := run(*rate, *size, *duration, *metrics, *metricsAddr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(rate, size int, duration time.Duration, metricsKind, metricsAddr string) error {
	if rate <= 0 {
		return errors.New("-rate must be positive")
	}
	if size < 0 {
		return errors.New("-size must not be negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}

	meters, err := newSelfMetrics(context.Background(), metricsKind, metricsAddr)
	if err != nil {
		return err
	}
	logExp, err := otlploghttp.New(context.Background())
	if err != nil {
		return errors.Join(fmt.Errorf("log exporter: %w", err), meters.Shutdown(context.Background()))
	}
	proc, b, err := newPipeline(logExp, meters.provider)
	if err != nil {
		return errors.Join(err, meters.Shutdown(context.Background()))
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("steadylog-loadgen", otelslog.WithLoggerProvider(provider))

	body := strings.Repeat("x", size)
	fmt.Fprintf(os.Stderr, "loadgen: %d records/s, %d-byte bodies\n", rate, size)
	if meters.addr != "" {
		fmt.Fprintf(os.Stderr, "loadgen: metrics for Prometheus at http://%s/metrics\n", meters.addr)
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var seq, owed float64
	perTick := float64(rate) * tick.Seconds()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
		}
		// Carry the fraction over, so low rates are exact on average.
		for owed += perTick; owed >= 1; owed-- {
			logger.Info(body, slog.Int64("seq", int64(seq)), slog.String("component", "loadgen"))
			seq++
		}
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(provider.Shutdown(shutdownCtx), meters.Shutdown(shutdownCtx))
	st := proc.Stats()
	fmt.Fprintf(os.Stderr, "loadgen: emitted %.0f; breaker %s; %s\n", seq, b.State(), st)
	line, jerr := finalLine(uint64(seq), b, st)
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	fmt.Fprintln(os.Stderr, line)
	return err
}

// finalPrefix starts the machine-readable line loadgen prints on exit.
const finalPrefix = "loadgen: final "

// finalReport is loadgen's accounting at exit, printed as JSON after finalPrefix.
type finalReport struct {
	// Emitted is the number of records loadgen logged.
	Emitted uint64 `json:"emitted"`
	// Breaker is the breaker's state at exit: "closed", "half-open", "open".
	Breaker string `json:"breaker"`
	// BreakerTrips counts the times the breaker opened (probes that failed
	// included).
	BreakerTrips uint64 `json:"breaker_trips"`
	// BreakerTransitions counts every state change of the breaker.
	BreakerTransitions uint64 `json:"breaker_transitions"`
	// Stats is the processor's accounting after Shutdown.
	Stats processor.Stats `json:"stats"`
}

// finalLine renders the machine-readable exit line.
func finalLine(emitted uint64, b *breaker.Breaker, st processor.Stats) (string, error) {
	j, err := json.Marshal(finalReport{
		Emitted:            emitted,
		Breaker:            b.State().String(),
		BreakerTrips:       b.Counts().Trips,
		BreakerTransitions: b.Transitions().Total(),
		Stats:              st,
	})
	if err != nil {
		return "", fmt.Errorf("final stats: %w", err)
	}
	return finalPrefix + string(j), nil
}

// newPipeline guards exp with a circuit breaker and puts a steadylog
// processor in front of it, both reporting their metrics through mp. The
// breaker turns a dead or hung collector into fast errors instead of an
// export timeout per batch, and its state shows on the demo dashboard.
func newPipeline(exp sdklog.Exporter, mp metric.MeterProvider, opts ...processor.Option) (*processor.Processor, *breaker.Breaker, error) {
	b := breaker.MustNew(breaker.Config{Name: breakerName})
	guarded := exporter.MustBreaker(exp, b, exporter.WithBreakerMeterProvider(mp))
	proc, err := processor.New(guarded, append([]processor.Option{processor.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return proc, b, nil
}
