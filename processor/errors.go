package processor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/telemetry"
)

// This file holds the processor's default error handler: a
// telemetry.ErrorReporter per processor, on standard error, rate limited.
// It is not otel.Handle, whose default writes through the log package: in
// a program that routed slog's default logger into OpenTelemetry (the
// Quick start's slog.SetDefault(otelslog...)), and with it the log
// package, the processor's report of a failed export would become a
// record for the same failing pipeline, one per attempt.

// errorsConfig holds the settings of the default error handler. It is a
// field of config.
type errorsConfig struct {
	logger   *slog.Logger // nil: telemetry.DefaultAlertLogger
	interval time.Duration
	// clock, set only by tests, replaces the reporter's ticker and clock.
	clock clock.Clock
	// reporter is the default error handler, made by newConfig when no
	// WithErrorHandler was given, and stopped by stopErrors; nil when the
	// user gave a handler.
	reporter *telemetry.ErrorReporter
}

// startErrors makes the default error handler, unless WithErrorHandler
// gave one. The reporter starts no goroutine until the first error, and
// its goroutine ends by itself an interval or two after the last one, so a
// processor that New fails to build after this point leaks nothing.
func (c *config) startErrors() error {
	if c.errorHandler != nil {
		return nil
	}
	opts := []telemetry.ErrorOption{
		telemetry.WithErrorAttrs(slog.String(string(telemetry.KeyComponentName), c.tel.name)),
	}
	if c.errs.logger != nil {
		opts = append(opts, telemetry.WithErrorLogger(c.errs.logger), telemetry.WithErrorInterval(c.errs.interval))
	}
	if c.errs.clock != nil {
		opts = append(opts, telemetryClock{c: c.errs.clock})
	}
	r, err := telemetry.NewErrorReporter(opts...)
	if err != nil {
		return fmt.Errorf("steadylog/processor: error reports: %w", err)
	}
	c.errs.reporter, c.errorHandler = r, r.Handle
	return nil
}

// stopErrors stops the default error handler: it writes a last summary of
// the errors not written yet, waiting for it no longer than ctx allows
// (the summary is still written, later, if the logger is stuck). Errors
// reported after it are not written. It does nothing when the user gave
// a handler, and after its first call.
//
// Processor.Shutdown calls it once, last, when the workers have ended or
// been given up on, with the context it gives the drop alerter (see
// finalContext): bounded by alertStopLimit, and by Shutdown's context plus
// FinalSummaryGrace.
func (c *config) stopErrors(ctx context.Context) {
	if c.errs.reporter != nil {
		_ = c.errs.reporter.Shutdown(ctx)
	}
}
