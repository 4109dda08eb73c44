// Command zap logs through go.uber.org/zap into the OpenTelemetry logs SDK
// with a steadylog processor in place of the SDK's BatchProcessor, and
// writes the records to stdout. It needs no collector.
//
// The data path is zap.Logger → otelzap.Core → sdklog.LoggerProvider →
// steadylog processor → stdoutlog exporter. The records are written to
// stdout, one JSON object a line; the processor's accounting line is
// written to stderr after shutdown.
//
//	go run ./examples/zap
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.uber.org/zap"

	"github.com/steadylog/steadylog/processor"
)

func main() {
	if err := run(os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "zap:", err)
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
	logger := zap.New(otelzap.NewCore("zap", otelzap.WithLoggerProvider(provider)))

	logger.Info("service started", zap.String("version", "1.4.2"), zap.Int("port", 8080))

	// Fields given to With are attached to every record of the child logger.
	// A zap.Error field becomes the record's error, which the SDK turns into
	// the exception.message and exception.type attributes.
	req := logger.With(zap.String("request_id", "7f3a9c"), zap.String("route", "/checkout"))
	req.Warn("payment retry", zap.Int("attempt", 2), zap.Error(errors.New("card declined")))
	req.Error("payment failed", zap.Int("order", 1337))

	// logger.Sync is a no-op for otelzap: the records sit in the processor's
	// queue. Shutting the provider down shuts the processor down: it exports
	// what is queued, then reports exactly where every record went.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := provider.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "steadylog:", proc.Stats())
	return nil
}
