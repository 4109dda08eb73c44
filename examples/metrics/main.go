// Command metrics shows steadylog's self-telemetry live: it logs bursts
// through a deliberately slow pipeline, so the processor drops records, and
// prints the processor's and the circuit breaker's metrics on stdout with
// the stdoutmetric exporter.
//
// Logs go log/slog → otelslog bridge → sdklog.LoggerProvider → steadylog's
// processor (with WithMeterProvider) → exporter.NewBreaker → a slow
// stdoutlog exporter writing to io.Discard. Metrics go through an
// sdkmetric periodic reader to stdout, one JSON document per collection.
// The drop alerts go to stderr, at most one line per interval.
//
// Try it:
//
//	go run ./examples/metrics -duration 3s
//
// Flags:
//
//	-duration 3s       how long to log; the program then shuts down and exits
//	-interval 1s       how often metrics are printed and drops summarised
//	-burst 2000        records logged every 100ms
//	-queue 512         the processor's maximum queue size
//	-export-delay 20ms how long each export takes
//	-pretty            indent the metrics JSON
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

type options struct {
	duration    time.Duration
	interval    time.Duration
	burst       int
	queue       int
	exportDelay time.Duration
	pretty      bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long to log before shutting down")
	fs.DurationVar(&o.interval, "interval", time.Second, "how often metrics are printed and drops summarised")
	fs.IntVar(&o.burst, "burst", 2000, "records logged every 100ms")
	fs.IntVar(&o.queue, "queue", 512, "the processor's maximum queue size")
	fs.DurationVar(&o.exportDelay, "export-delay", 20*time.Millisecond, "how long each export takes")
	fs.BoolVar(&o.pretty, "pretty", false, "indent the metrics JSON")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.interval <= 0:
		return o, errors.New("-interval must be positive")
	case o.burst < 0:
		return o, errors.New("-burst must not be negative")
	case o.queue <= 0:
		return o, errors.New("-queue must be positive")
	case o.exportDelay < 0:
		return o, errors.New("-export-delay must not be negative")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}

	// Metrics: a periodic reader printing to stdout.
	metricOpts := []stdoutmetric.Option{stdoutmetric.WithWriter(stdout)}
	if o.pretty {
		metricOpts = append(metricOpts, stdoutmetric.WithPrettyPrint())
	}
	metricExp, err := stdoutmetric.New(metricOpts...)
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(o.interval))))

	// Logs: a slow exporter behind a circuit breaker, both reporting
	// metrics to mp.
	logExp, err := stdoutlog.New(stdoutlog.WithWriter(io.Discard))
	if err != nil {
		return errors.Join(err, mp.Shutdown(context.Background()))
	}
	guarded := exporter.MustBreaker(&slowExporter{Exporter: logExp, delay: o.exportDelay},
		breaker.MustNew(breaker.Config{Name: "stdout"}), exporter.WithBreakerMeterProvider(mp))
	p, err := processor.New(guarded,
		processor.WithMaxQueueSize(o.queue),
		processor.WithMeterProvider(mp),
		processor.WithName("example"),
		processor.WithDropAlerts(slog.New(slog.NewTextHandler(stderr, nil)), o.interval))
	if err != nil {
		return errors.Join(err, mp.Shutdown(context.Background()))
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := slog.New(otelslog.NewHandler("github.com/steadylog/steadylog/examples/metrics",
		otelslog.WithLoggerProvider(lp)))

	ctx := context.Background()
	ticker := time.NewTicker(100 * time.Millisecond)
	deadline := time.NewTimer(o.duration)
	n := 0
loop:
	for {
		for range o.burst {
			logger.InfoContext(ctx, "request served", "request.id", n, "http.route", "/v1/orders")
			n++
		}
		select {
		case <-ticker.C:
		case <-deadline.C:
			break loop
		}
	}
	ticker.Stop()

	// Shut logging down first, so its final counts are in the last
	// collection, then metrics, which prints that collection.
	shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errLogs := lp.Shutdown(shutdownCtx)
	errMetrics := mp.Shutdown(shutdownCtx)
	fmt.Fprintf(stderr, "logged %d records: %v\n", n, p.Stats())
	return errors.Join(errLogs, errMetrics)
}

// slowExporter makes every export take delay, as a distant or overloaded
// backend does, so that bursts overflow the queue.
type slowExporter struct {
	sdklog.Exporter
	delay time.Duration
}

func (e *slowExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	t := time.NewTimer(e.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.Exporter.Export(ctx, recs)
}
