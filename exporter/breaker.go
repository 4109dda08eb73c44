package exporter

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/classifyctx"
	"github.com/steadylog/steadylog/retry"
)

// BreakerOption configures [WithBreaker].
type BreakerOption interface {
	apply(*breakerConfig)
}

type breakerConfig struct {
	classify      retry.Classifier
	meterProvider metric.MeterProvider // see breaker_metrics.go
}

type breakerOptionFunc func(*breakerConfig)

func (f breakerOptionFunc) apply(c *breakerConfig) { f(c) }

// WithStandaloneClassifier sets the function that marks the inner
// exporter's errors (with [retry.Permanent] and [retry.After]) before they
// are reported to the breaker and returned, when the exporter is used
// outside a steadylog processor (under the SDK's BatchProcessor, say).
// otlperr.Classify marks the errors of the OTLP exporters; it is not the
// default because it needs gRPC, which this package does not import.
// Default nil: no marking, errors pass through unchanged, and the
// breaker's [breaker.DefaultClassify] counts every error as a failure
// except those already marked [retry.Permanent] and the caller's
// cancellation.
//
// Under a steadylog processor this option does not apply: a destination
// has one classifier, the processor's (processor.WithErrorClassifier),
// which the processor hands to the breaker through the export's context.
// The breaker applies it in place of this one, once per error, and the
// processor does not classify that error again.
func WithStandaloneClassifier(classify retry.Classifier) BreakerOption {
	return breakerOptionFunc(func(c *breakerConfig) { c.classify = classify })
}

// WithBreaker returns exp guarded by the circuit breaker b.
//
// Export asks b for permission first. When b refuses (it is open, or
// half-open with its probes taken), Export returns at once, without calling
// exp, an error wrapping the [*breaker.OpenError]: errors.Is(err,
// breaker.ErrOpen) holds and errors.As finds the OpenError with its RetryAt.
// Otherwise Export calls exp, classifies its error (with the classifier of
// the steadylog processor above it, or else [WithStandaloneClassifier]'s),
// reports it to b and returns it. A panic in exp is
// recovered, reported to b as a failure and returned as a [*PanicError].
//
// A call whose context was cancelled (not timed out) is reported to b as a
// cancellation even when exp answers with an error of its own, such as a
// gRPC status: the caller gave up, and [breaker.DefaultClassify] does not
// count that against the backend. steadylog's processor cancels an export
// when the ForceFlush or Shutdown it runs for gives up, and times it out
// only at its export timeout. A processor that passes a caller's deadline
// on to Export unchanged makes the two indistinguishable: there a caller's
// short deadline counts as a failure.
//
// ForceFlush and Shutdown are passed to exp without asking b: they must
// reach the exporter even when its backend is down, and exp must honour
// their context. Panics in them are recovered too.
//
// WithBreaker panics if exp or b is nil: that is a programming error, found
// at start-up rather than at the first export.
func WithBreaker(exp sdklog.Exporter, b *breaker.Breaker, opts ...BreakerOption) sdklog.Exporter {
	if isNil(exp) {
		panic("exporter: WithBreaker called with a nil exporter")
	}
	if b == nil {
		panic("exporter: WithBreaker called with a nil *breaker.Breaker")
	}
	var cfg breakerConfig
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.meterProvider != nil {
		observeBreaker(cfg.meterProvider, b)
	}
	return &breakerExporter{exp: exp, b: b, classify: cfg.classify}
}

type breakerExporter struct {
	exp      sdklog.Exporter
	b        *breaker.Breaker
	classify retry.Classifier
}

// Name lets Fanout and Failover attribute errors to the inner exporter.
func (e *breakerExporter) Name() string { return nameOf(e.exp) }

func (e *breakerExporter) Export(ctx context.Context, records []sdklog.Record) error {
	allow := e.b.Allow
	if earlyProbe(ctx) {
		allow = e.b.AllowEarly
	}
	done, err := allow()
	if err != nil {
		return fmt.Errorf("exporter: batch of %d records not sent to %s: %w", len(records), nameOf(e.exp), err)
	}
	err = safeExport(ctx, e.exp, records)
	if err != nil {
		if classify, ok := classifyctx.From(ctx); ok {
			// A steadylog processor's classifier: the destination's only
			// one. A breaker below this one may have applied it already.
			if !classifyctx.Done(err) {
				err = classifyctx.Mark(classify(err))
			}
		} else if e.classify != nil {
			err = safeClassify(e.classify, err)
		}
	}
	if err == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The exporter ignored its deadline and succeeded late: the batch
		// was accepted, but a backend that hangs past the export timeout
		// is failing as far as the breaker is concerned.
		done(context.DeadlineExceeded)
		return nil
	}
	if err != nil && ctx.Err() == context.Canceled && !errors.Is(err, context.Canceled) {
		// The caller gave up (steadylog's processor cancels, rather than
		// times out, an export whose ForceFlush or Shutdown ended) and the
		// exporter answered with an error of its own, such as a gRPC
		// status: tell the breaker it was a cancellation, which
		// DefaultClassify ignores, and return the exporter's error as is.
		done(errors.Join(err, context.Canceled))
		return err
	}
	done(err)
	return err
}

// safeClassify runs classify; if it panics, the unclassified error is kept
// and the panic is added to it, so that done is still called.
func safeClassify(classify retry.Classifier, err error) (out error) {
	defer func() {
		if r := recover(); r != nil {
			out = errors.Join(err, &PanicError{Method: "error classifier", Value: r, Stack: debug.Stack()})
		}
	}()
	return classify(err)
}

func (e *breakerExporter) ForceFlush(ctx context.Context) error { return safeForceFlush(ctx, e.exp) }

func (e *breakerExporter) Shutdown(ctx context.Context) error { return safeShutdown(ctx, e.exp) }
