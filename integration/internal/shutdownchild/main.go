// Command shutdownchild is the application that the end-to-end shutdown test
// runs as a child process: an ordinary service whose log pipeline is
//
//	log/slog → otelslog → sdklog.LoggerProvider → steadylog processor → OTLP/HTTP
//
// with the processor's own metrics on an sdkmetric.MeterProvider (periodic
// reader, OTLP/HTTP), both shut down by a lifecycle.Manager on SIGTERM —
// logs first, then metrics, so that the final metric export carries the
// final drop counts.
//
// It writes status lines on stdout for the test to synchronise on:
//
//	ready received=N exported=N        the start-up records are exported
//	shutdown graceful (signal ...      the lifecycle report (several lines)
//	final processed=N exported=N dropped=N received=N stats=...
//
// Flags:
//
//	-logs HOST:PORT            OTLP/HTTP endpoint for logs (required)
//	-metrics HOST:PORT         OTLP/HTTP endpoint for metrics (required)
//	-grace 5s                  the Manager's timeout (the shutdown deadline)
//	-export-timeout 250ms      the processor's per-export timeout
//	-retry-max-elapsed 0       how long a failing batch is retried (0: default)
//	-rate 1000                 records per second while running
//	-burst 500                 records logged by a cleanup hook during shutdown
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
)

// ProcessorName is the otel.component.name of the child's processor, by
// which the test finds its series in Prometheus.
const ProcessorName = "shutdownchild"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shutdownchild:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("shutdownchild", flag.ContinueOnError)
	logsAddr := fs.String("logs", "", "OTLP/HTTP endpoint for logs, host:port")
	metricsAddr := fs.String("metrics", "", "OTLP/HTTP endpoint for metrics, host:port")
	grace := fs.Duration("grace", 5*time.Second, "shutdown deadline")
	exportTimeout := fs.Duration("export-timeout", 250*time.Millisecond, "per-export timeout")
	retryMax := fs.Duration("retry-max-elapsed", 0, "how long a failing batch is retried (0: the processor's default)")
	rate := fs.Int("rate", 1000, "records per second while running")
	burst := fs.Int("burst", 500, "records logged by a cleanup hook during shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *logsAddr == "" || *metricsAddr == "" {
		return errors.New("-logs and -metrics are required")
	}
	if *rate <= 0 || *burst < 0 {
		return errors.New("-rate must be positive and -burst not negative")
	}
	ctx := context.Background()

	metricExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(*metricsAddr), otlpmetrichttp.WithInsecure())
	if err != nil {
		return err
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(500*time.Millisecond))))
	logExp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(*logsAddr), otlploghttp.WithInsecure())
	if err != nil {
		return err
	}
	opts := []processor.Option{
		processor.WithName(ProcessorName),
		processor.WithMeterProvider(meters),
		processor.WithExportInterval(100 * time.Millisecond),
		processor.WithExportTimeout(*exportTimeout),
		processor.WithoutDropAlerts(),
		processor.WithErrorHandler(func(error) {}), // failures show in the counts
	}
	if *retryMax > 0 {
		opts = append(opts, processor.WithRetryMaxElapsed(*retryMax))
	}
	proc, err := processor.New(logExp, opts...)
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("steadylog-shutdownchild", otelslog.WithLoggerProvider(lp))

	m, err := lifecycle.NewManager(lifecycle.WithStrategy(lifecycle.Graceful), lifecycle.WithTimeout(*grace))
	if err != nil {
		return err
	}

	// Start-up records, exported before the child says it is ready.
	seq := 0
	for ; seq < 200; seq++ {
		logger.Info("starting", slog.Int("seq", seq), slog.String("phase", "start-up"))
	}

	// The running service: records at a steady rate until the first hook
	// stops it.
	stopEmitting := make(chan struct{})
	var emitter sync.WaitGroup
	emitter.Go(func() {
		ticker := time.NewTicker(10 * time.Millisecond)
		defer ticker.Stop()
		perTick := max(1, *rate/100)
		for {
			select {
			case <-stopEmitting:
				return
			case <-ticker.C:
			}
			for range perTick {
				logger.Info("request served", slog.Int("seq", seq), slog.String("phase", "running"))
				seq++
			}
		}
	})

	// Logs before metrics, so that the final metric export carries the
	// final counts. Group(lp, proc) makes the processor count its losses
	// even when the provider is handed an ended context.
	err = errors.Join(
		m.Register("logs", lifecycle.Group(lp, proc)),
		m.Register("metrics", meters),
		// Hooks run in reverse order: first the service stops taking work,
		// then it logs what it does while draining (the burst).
		m.AddHook("drain-requests", func(context.Context) error {
			for i := range *burst {
				logger.Info("request drained", slog.Int("seq", seq+i), slog.String("phase", "draining"))
			}
			return nil
		}),
		m.AddHook("stop-service", func(context.Context) error {
			close(stopEmitting)
			emitter.Wait()
			return nil
		}),
	)
	if err != nil {
		return err
	}
	if err := m.Listen(); err != nil {
		return err
	}
	defer m.Stop()

	flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = proc.ForceFlush(flushCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("start-up flush: %w", err)
	}
	st := proc.Stats()
	fmt.Fprintf(stdout, "ready received=%d exported=%d\n", st.Received, st.Exported)

	report := m.Wait()
	fmt.Fprintln(stdout, report)
	st = proc.Stats()
	fmt.Fprintf(stdout, "final processed=%d exported=%d dropped=%d received=%d stats=%s\n",
		st.Exported+st.TotalDropped(), st.Exported, st.TotalDropped(), st.Received, st)
	return nil
}
