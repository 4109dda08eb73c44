// Command autoexport picks its log exporter from the environment, as
// OpenTelemetry's OTEL_LOGS_EXPORTER asks, with
// go.opentelemetry.io/contrib/exporters/autoexport, and puts steadylog's
// processor in front of whichever it is:
//
//	OTEL_LOGS_EXPORTER=console go run ./examples/autoexport     # stdout
//	OTEL_LOGS_EXPORTER=otlp go run ./examples/autoexport        # the default: OTLP over
//	                                                            # OTEL_EXPORTER_OTLP_PROTOCOL
//	                                                            # (http/protobuf, or grpc)
//	OTEL_LOGS_EXPORTER=none go run ./examples/autoexport        # discard
//
// autoexport returns a bare sdklog.Exporter; the SDK's BatchProcessor is
// not involved (autoexport leaves the processor to the caller). "none"
// gives an exporter that reports itself as no-op (autoexport.IsNoneLogExporter):
// with it the example installs no processor at all, so nothing is queued for
// nothing. The breaker guards whatever exporter was chosen.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

func main() {
	if _, err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "autoexport:", err)
		os.Exit(1)
	}
}

// run logs one record through the exporter OTEL_LOGS_EXPORTER chose and
// returns steadylog's accounting after shutdown (zero for none).
func run(ctx context.Context) (processor.Stats, error) {
	exp, err := autoexport.NewLogExporter(ctx)
	if err != nil {
		return processor.Stats{}, fmt.Errorf("OTEL_LOGS_EXPORTER=%q: %w", os.Getenv("OTEL_LOGS_EXPORTER"), err)
	}
	if autoexport.IsNoneLogExporter(exp) {
		fmt.Fprintln(os.Stderr, "OTEL_LOGS_EXPORTER=none: no processor, records are discarded")
		return processor.Stats{}, nil
	}
	b := breaker.MustNew(breaker.Config{Name: "logs"})
	proc, err := processor.New(exporter.MustBreaker(exp, b))
	if err != nil {
		return processor.Stats{}, err
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("autoexport-example", otelslog.WithLoggerProvider(provider))
	fmt.Fprintf(os.Stderr, "exporter %T chosen by OTEL_LOGS_EXPORTER=%q\n", exp, os.Getenv("OTEL_LOGS_EXPORTER"))
	logger.Info("exporter chosen by the environment", slog.String("variable", "OTEL_LOGS_EXPORTER"))

	shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = provider.Shutdown(shutdownCtx)
	st := proc.Stats()
	fmt.Fprintf(os.Stderr, "breaker %s; %s\n", b.State(), st)
	return st, err
}
