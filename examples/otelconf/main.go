// Command otelconf builds the OpenTelemetry SDK from declarative
// configuration (go.opentelemetry.io/contrib/otelconf, the YAML file format
// of OTEL_CONFIG_FILE) and puts steadylog's processor into its
// LoggerProvider.
//
// otelconf knows only the SDK's own log record processors (batch and
// simple): a custom processor goes in through
// otelconf.WithLoggerProviderOptions(sdklog.WithProcessor(p)). Two rules
// follow from otelconf's code:
//
//   - the configuration must have a logger_provider section, or otelconf
//     builds a no-op LoggerProvider and ignores the option (steadylog would
//     receive nothing);
//   - leave its processors list empty, or the SDK's batch processor exports
//     every record a second time beside steadylog.
//
// The resource, limits, meter and tracer providers still come from the file.
//
//	go run ./examples/otelconf                      # the embedded config.yaml
//	go run ./examples/otelconf -config my.yaml      # or OTEL_CONFIG_FILE=my.yaml
//
// Records go to stdout (stdoutlog) so that it runs without a collector; in
// a service the exporter would be otlploghttp or otlploggrpc.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/otelconf"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

//go:embed config.yaml
var defaultConfig []byte

func main() {
	config := flag.String("config", "", "declarative configuration file (default: the embedded config.yaml)")
	flag.Parse()
	if _, err := run(context.Background(), *config); err != nil {
		fmt.Fprintln(os.Stderr, "otelconf:", err)
		os.Exit(1)
	}
}

// run logs two records through the SDK built from configFile (or the
// embedded config.yaml) and returns steadylog's accounting after shutdown.
func run(ctx context.Context, configFile string) (processor.Stats, error) {
	raw := defaultConfig
	if configFile != "" {
		var err error
		if raw, err = os.ReadFile(configFile); err != nil {
			return processor.Stats{}, err
		}
	}
	cfg, err := otelconf.ParseYAML(raw)
	if err != nil {
		return processor.Stats{}, fmt.Errorf("parse configuration: %w", err)
	}
	if cfg.LoggerProvider == nil {
		return processor.Stats{}, errors.New("the configuration has no logger_provider: otelconf would build a no-op LoggerProvider without steadylog")
	}
	if n := len(cfg.LoggerProvider.Processors); n > 0 {
		return processor.Stats{}, fmt.Errorf("the configuration's logger_provider has %d processors: they would export every record beside steadylog; leave the list empty", n)
	}

	exp, err := stdoutlog.New()
	if err != nil {
		return processor.Stats{}, err
	}
	proc, err := processor.New(exp, processor.WithMaxQueueBytes(16<<20))
	if err != nil {
		return processor.Stats{}, err
	}
	sdk, err := otelconf.NewSDK(
		otelconf.WithContext(ctx),
		otelconf.WithOpenTelemetryConfiguration(*cfg),
		otelconf.WithLoggerProviderOptions(sdklog.WithProcessor(proc)),
	)
	if err != nil {
		return processor.Stats{}, errors.Join(fmt.Errorf("otelconf: %w", err), proc.Shutdown(ctx))
	}
	logger := otelslog.NewLogger("otelconf-example", otelslog.WithLoggerProvider(sdk.LoggerProvider()))
	logger.Info("configured declaratively", slog.String("processor", "steadylog"))
	logger.Warn("disk almost full", slog.Int("percent", 93))

	shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = sdk.Shutdown(shutdownCtx) // shuts the LoggerProvider down, and steadylog with it
	st := proc.Stats()
	fmt.Fprintf(os.Stderr, "steadylog: %s\n", st)
	return st, err
}
