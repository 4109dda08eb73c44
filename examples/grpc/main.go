// Command grpc sends log records through steadylog to a collector over
// OTLP/gRPC (go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc):
// slog → otelslog → steadylog processor → circuit breaker → otlploggrpc.
//
// otlploggrpc reads the standard OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT), default localhost:4317; an http://
// URL means no TLS:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 go run ./examples/grpc -records 100
//
// Unlike otlploghttp, otlploggrpc retries Unavailable itself (first backoff
// 5 s, up to a minute) inside one Export call. Under steadylog that call is
// bounded by the processor's export timeout, and the processor has its own
// retries and breaker, so the example turns the exporter's retries off
// (otlploggrpc.WithRetry with Enabled false): one place decides, and a dead
// collector trips the breaker at once instead of after a minute.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

func main() {
	records := flag.Int("records", 10, "records to send")
	flag.Parse()
	if err := run(context.Background(), *records); err != nil {
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, records int) error {
	exp, err := otlploggrpc.New(ctx,
		// steadylog retries (with one budget per outage) and the breaker
		// stops calls while the collector is down: no retries inside Export.
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}),
	)
	if err != nil {
		return fmt.Errorf("otlploggrpc: %w", err)
	}
	b := breaker.MustNew(breaker.Config{Name: "collector"})
	proc, err := processor.New(exporter.MustBreaker(exp, b),
		processor.WithExportTimeout(10*time.Second),
	)
	if err != nil {
		return err
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("grpc-example", otelslog.WithLoggerProvider(provider))

	fmt.Fprintf(os.Stderr, "sending %d records over OTLP/gRPC\n", records)
	for i := range records {
		logger.Info("order placed", slog.Int("seq", i), slog.String("transport", "grpc"))
	}

	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = provider.Shutdown(shutdownCtx)
	st := proc.Stats()
	fmt.Fprintf(os.Stderr, "breaker %s; %s\n", b.State(), st)
	if st.Exported != uint64(records) {
		err = errors.Join(err, fmt.Errorf("%d of %d records exported", st.Exported, records))
	}
	return err
}
