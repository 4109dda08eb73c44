// Command otlp sends log records to an OpenTelemetry Collector over OTLP/HTTP
// through steadylog, the way a production service wires it:
//
//	log/slog → otelslog bridge → sdklog.LoggerProvider → steadylog processor
//	    → exporter.MustBreaker(otlploghttp, breaker) → collector
//
// The breaker makes a dead or hung collector cost a fast error instead of an
// export timeout per batch; the processor keeps its queue bounded and counts
// what it cannot deliver. A lifecycle.Manager shuts the pipeline down on
// SIGINT/SIGTERM, or when the program is done, within a deadline, and prints
// a report of what was exported and what was dropped.
//
// The collector is found at OTEL_EXPORTER_OTLP_ENDPOINT (the OTLP base URL;
// default http://localhost:4318), as every OpenTelemetry SDK does:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 go run ./examples/otlp -records 100
//
// Everything it prints goes to standard error: the endpoint, the shutdown
// report and the breaker's state with the processor's accounting. With no
// collector listening, each export fails, the breaker opens, and the
// shutdown gives up once the next attempt would fall after its deadline: the
// records are counted as dropped (shutdown=10 by default), the report says
// FAILED, and the program exits with status 1.
//
// Flags:
//
//	-records 10     log records to send, each with a "seq" attribute
//	-grace 10s      the shutdown deadline
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
)

// EnvEndpoint names the collector's OTLP base URL; DefaultEndpoint applies
// when it is unset.
const (
	EnvEndpoint     = "OTEL_EXPORTER_OTLP_ENDPOINT"
	DefaultEndpoint = "http://localhost:4318"
)

// ErrEndpoint is wrapped by the error for an unusable endpoint URL.
var ErrEndpoint = errors.New("invalid " + EnvEndpoint)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "otlp:", err)
		os.Exit(1)
	}
}

// logsURL turns the OTLP base URL into the logs endpoint, as the OTLP
// specification does for OTEL_EXPORTER_OTLP_ENDPOINT: base + "/v1/logs".
func logsURL(base string) (string, error) {
	if base == "" {
		base = DefaultEndpoint
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrEndpoint, base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w %q: want http(s)://host:port", ErrEndpoint, base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/logs"
	return u.String(), nil
}

// run is main without the exit: it sends the records, shuts the pipeline
// down and writes the shutdown report to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("otlp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	records := fs.Int("records", 10, "log records to send")
	grace := fs.Duration("grace", 10*time.Second, "shutdown deadline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *records < 0 {
		return fmt.Errorf("-records %d must not be negative", *records)
	}
	if *grace <= 0 {
		return fmt.Errorf("-grace %v must be positive", *grace)
	}
	endpoint, err := logsURL(getenv(EnvEndpoint))
	if err != nil {
		return err
	}

	// An http:// URL means no TLS. The exporter's own timeout is kept
	// below the processor's so that a hung collector fails the call, which
	// the breaker counts.
	otlp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(endpoint), otlploghttp.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	b := breaker.MustNew(breaker.Config{Name: "collector"})
	proc, err := processor.New(exporter.MustBreaker(otlp, b), processor.WithExportTimeout(10*time.Second))
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("github.com/steadylog/steadylog/examples/otlp", otelslog.WithLoggerProvider(lp))

	m, err := lifecycle.NewManager(lifecycle.WithTimeout(*grace)) // Graceful by default
	if err != nil {
		return err
	}
	// Group(lp, proc): the processor is shut down, and counts what it could
	// not deliver, even if the deadline has passed when its turn comes.
	if err := errors.Join(m.Register("logs", lifecycle.Group(lp, proc)), m.Listen()); err != nil {
		return err
	}
	defer m.Stop()

	fmt.Fprintf(stderr, "sending %d records to %s\n", *records, endpoint)
	for i := range *records {
		logger.InfoContext(ctx, "order placed", slog.Int("seq", i), slog.String("order.id", fmt.Sprintf("A-%04d", i)))
	}

	// The work is done (or a signal came first): shut down, bounded by -grace.
	err = m.Shutdown(context.Background())
	fmt.Fprintln(stderr, m.Wait())
	fmt.Fprintf(stderr, "breaker %s; %s\n", b.State(), proc.Stats())
	return err
}
