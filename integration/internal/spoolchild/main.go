// Command spoolchild is the application the spool's end-to-end tests run as
// a child process: a service whose log pipeline is
//
//	log/slog → otelslog → sdklog.LoggerProvider → steadylog processor
//	(with a durable spool in -dir) → OTLP/HTTP
//
// Its records are a function of their sequence number (spoolrecords), so that
// the test can check that what reaches the Collector after a crash and a
// restart is identical to what was emitted: body, attributes (a nested
// map and a slice among them), severity, scope and resource.
//
// Modes:
//
//	-mode emit      emit -n records, wait until the spool holds them all
//	                and has synced, print "accepted N", then wait to be killed (SIGKILL: a
//	                crash) or stopped (SIGTERM: a shutdown with -grace)
//	-mode deliver   start on the spool a previous run left, wait until
//	                every record it holds is delivered, print the stats and
//	                exit
//
// Status lines on stdout:
//
//	accepted N                    every record emitted is in the spool, synced
//	report LINE                   after SIGTERM: the lifecycle report's first line
//	left N                        after SIGTERM: records left on disk (the report's)
//	final {stats JSON}            the processor's Stats at exit
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/integration/internal/spoolrecords"
	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
	"github.com/steadylog/steadylog/telemetry"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "spoolchild:", err)
		os.Exit(1)
	}
}

type config struct {
	mode     string
	dir      string
	logs     string
	n        int
	grace    time.Duration
	deadline time.Duration
}

func run(args []string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("spoolchild", flag.ContinueOnError)
	fs.StringVar(&cfg.mode, "mode", "", "emit or deliver")
	fs.StringVar(&cfg.dir, "dir", "", "the spool directory")
	fs.StringVar(&cfg.logs, "logs", "", "OTLP/HTTP endpoint for logs, HOST:PORT")
	fs.IntVar(&cfg.n, "n", 1000, "records to emit (emit mode)")
	fs.DurationVar(&cfg.grace, "grace", time.Second, "the shutdown deadline after SIGTERM")
	fs.DurationVar(&cfg.deadline, "deadline", time.Minute, "how long deliver mode waits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.dir == "" || cfg.logs == "" {
		return errors.New("-dir and -logs are required")
	}
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(cfg.logs), otlploghttp.WithInsecure(),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	if err != nil {
		return err
	}
	// The processor's own metrics tell emit when the spool has synced.
	reader := sdkmetric.NewManualReader()
	p, err := processor.New(exp,
		processor.WithSpool(cfg.dir, processor.WithSpoolSyncInterval(0)),
		processor.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		processor.WithExportTimeout(500*time.Millisecond),
		processor.WithErrorHandler(func(err error) { fmt.Fprintln(os.Stderr, "steadylog:", err) }),
	)
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(spoolrecords.Resource()), sdklog.WithProcessor(p))
	switch cfg.mode {
	case "emit":
		return emit(cfg, lp, p, reader, stdout)
	case "deliver":
		return deliver(cfg, lp, p, stdout)
	}
	return fmt.Errorf("unknown -mode %q", cfg.mode)
}

// emit logs cfg.n records, reports them accepted once the spool holds them
// all, and then waits: for SIGKILL, or for SIGTERM and a shutdown within
// cfg.grace.
func emit(cfg config, lp *sdklog.LoggerProvider, p *processor.Processor, reader *sdkmetric.ManualReader, stdout io.Writer) error {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	loggers := spoolrecords.Loggers(lp)
	for i := range cfg.n {
		spoolrecords.Emit(loggers, i)
	}
	// Every record is on disk when the spool holds as many as were
	// emitted (the exporter cannot deliver any: the backend hangs or is
	// down) and, synced after every write, they survive a crash.
	for p.Stats().Spool.Records < uint64(cfg.n) {
		select {
		case <-term:
			return stop(cfg, lp, p, stdout)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// A crash of the machine keeps what the spool synced, and the spool
	// counts what damage takes up to its last sync: wait until a sync that
	// began after the last write has ended (the spool also syncs every
	// second) — the second sync counted from now.
	for base := spoolSyncs(reader); spoolSyncs(reader) < base+2; {
		select {
		case <-term:
			return stop(cfg, lp, p, stdout)
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Fprintf(stdout, "accepted %d\n", cfg.n)
	<-term
	return stop(cfg, lp, p, stdout)
}

// stop is a pod's shutdown, as a service does it with lifecycle: the
// provider and its processor get cfg.grace, and the report says how many
// records were left on disk for the next start. It prints the report's
// first line, then "left N" with the report's count.
func stop(cfg config, lp *sdklog.LoggerProvider, p *processor.Processor, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.grace)
	defer cancel()
	report, _ := lifecycle.ShutdownNamed(ctx, lifecycle.Flush, lifecycle.Named("logs", lifecycle.Counted(lp, p)))
	first, _, _ := strings.Cut(report.String(), "\n")
	fmt.Fprintf(stdout, "report %s\n", first)
	fmt.Fprintf(stdout, "left %d\n", report.Left())
	printFinal(stdout, p.Stats())
	// A backend that is down fails the shutdown's flush: the report
	// says so, and what is left is on disk. Only a shutdown left running
	// is an error of the child.
	for _, c := range report.Components {
		if c.Abandoned {
			return fmt.Errorf("the shutdown of %s was abandoned: %v", c.Name, c.Err)
		}
	}
	return nil
}

// deliver waits until the spool a previous run left is delivered.
func deliver(cfg config, lp *sdklog.LoggerProvider, p *processor.Processor, stdout io.Writer) error {
	end := time.Now().Add(cfg.deadline)
	for {
		st := p.Stats()
		if st.Queued == 0 && st.InFlight == 0 {
			break
		}
		if time.Now().After(end) {
			printFinal(stdout, st)
			return fmt.Errorf("not delivered within %v: %v", cfg.deadline, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := lp.Shutdown(ctx)
	printFinal(stdout, p.Stats())
	return err
}

// spoolSyncs returns how many syncs of the spool the processor's metrics
// have recorded.
func spoolSyncs(reader *sdkmetric.ManualReader) uint64 {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return 0
	}
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == telemetry.MetricSpoolSyncDuration {
				for _, dp := range h.DataPoints {
					n += dp.Count
				}
			}
		}
	}
	return n
}

func printFinal(w io.Writer, st processor.Stats) {
	b, err := json.Marshal(st)
	if err != nil {
		fmt.Fprintf(w, "final-error %v\n", err)
		return
	}
	fmt.Fprintf(w, "final %s\n", b)
}
