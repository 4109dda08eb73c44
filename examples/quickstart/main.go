// Command quickstart logs through log/slog into the OpenTelemetry logs SDK
// with a steadylog processor in place of the SDK's BatchProcessor, and
// writes the records to stdout. It needs no collector.
//
// The records are written to stdout, one JSON object a line; after shutdown
// the processor's accounting line (steadylog: received=3 exported=3 …) is
// written to standard error, so that stdout holds only the records:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart 2>/dev/null   # the records alone
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

func main() {
	if err := run(os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(stdout, stderr io.Writer) error {
	exporter, err := stdoutlog.New(stdoutlog.WithWriter(stdout))
	if err != nil {
		return err
	}
	// A queue bounded by 1000 records and 8 MiB: when the exporter falls
	// behind, the oldest records are evicted and counted, never silently lost.
	proc, err := processor.New(exporter,
		processor.WithMaxQueueSize(1000),
		processor.WithMaxQueueBytes(8<<20),
		processor.WithExportInterval(200*time.Millisecond),
	)
	if err != nil {
		return err
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("quickstart", otelslog.WithLoggerProvider(provider))

	logger.Info("service started", "version", "1.4.2", "port", 8080)
	logger.Warn("cache miss rate high", slog.Float64("rate", 0.42), slog.Group("cache", "name", "users", "size", 1024))
	logger.Error("payment failed", "order", 1337, "error", "card declined")

	// Shutting the provider down shuts the processor down: it exports what
	// is queued, then reports exactly where every record went.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := provider.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "steadylog:", proc.Stats())
	return nil
}
