package processor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/steadylog/steadylog/internal/tick"
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
	clock tick.Clock
	// reporter is the default error handler, made by newConfig when no
	// WithErrorHandler was given, and stopped by stopErrors; nil when the
	// user gave a handler.
	reporter *telemetry.ErrorReporter
}

// WithErrorLog sets where the processor's default error handler writes
// and how often: export errors and configuration warnings are written to
// logger at level Error, the first error of a kind at once, its repeats as
// one summary line per interval with their count and the latest error:
//
//	level=ERROR msg="steadylog: error" count=1 error="steadylog/processor: export of 512 records failed (will be retried): … connect: connection refused" otel.component.name=audit-log
//	level=ERROR msg="steadylog: error" count=23 interval=10s error="steadylog/processor: export of 498 records failed (will be retried): … connect: connection refused" otel.component.name=audit-log
//
// Errors that differ only in their numbers (record counts, addresses,
// status codes) are one kind; telemetry.ErrorReporter documents the rule
// and its bounds. The lines are written on the handler's own goroutine:
// the worker (or New) waits for the first line of a kind, so that it is
// out when the report returns, but at most telemetry.FirstLineWait
// (100ms), and not at all while logger is stuck; repeats never wait.
// Shutdown writes a last summary of what was not written yet. logger must not feed this
// processor (for instance through otelslog): an error report would become
// one more record for the pipeline that failed to export it.
//
// Default: on, every 10s (telemetry.DefaultAlertInterval), to a log/slog text
// handler on os.Stderr (telemetry.DefaultAlertLogger), which depends on
// nothing the failing pipeline does. WithErrorHandler replaces it; of the
// two, the last given applies. A nil logger or an interval ≤ 0 makes New
// fail.
func WithErrorLog(logger *slog.Logger, interval time.Duration) Option {
	return optionFunc(func(c *config) {
		if logger == nil {
			c.reject("WithErrorLog(nil, %v): logger must not be nil", interval)
			return
		}
		if interval <= 0 {
			c.reject("WithErrorLog(%v): interval must be positive", interval)
			return
		}
		c.errs.logger, c.errs.interval, c.errorHandler = logger, interval, nil
	})
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
	if c.errs.clock.IsSet() {
		opts = append(opts, tick.Option(c.errs.clock).(telemetry.ErrorOption))
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
