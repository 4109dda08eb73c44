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
	"github.com/steadylog/steadylog/internal/setting"
	"github.com/steadylog/steadylog/retry"
)

// BreakerOption configures [NewBreaker].
type BreakerOption interface {
	applyBreaker(*breakerConfig, *setting.Errors)
}

type breakerConfig struct {
	classify      retry.Classifier
	meterProvider metric.MeterProvider // see breaker_metrics.go
}

type breakerOptionFunc func(*breakerConfig, *setting.Errors)

func (f breakerOptionFunc) applyBreaker(c *breakerConfig, errs *setting.Errors) { f(c, errs) }

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
	return breakerOptionFunc(func(c *breakerConfig, _ *setting.Errors) { c.classify = classify })
}

// NewBreaker returns exp guarded by the circuit breaker b.
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
// NewBreaker returns an error if exp or b is nil, or an option is invalid
// (wrapping [ErrInvalidOption]).
func NewBreaker(exp sdklog.Exporter, b *breaker.Breaker, opts ...BreakerOption) (sdklog.Exporter, error) {
	if isNil(exp) {
		return nil, errors.New("steadylog/exporter: NewBreaker: the exporter is nil")
	}
	if b == nil {
		return nil, errors.New("steadylog/exporter: NewBreaker: the *breaker.Breaker is nil")
	}
	var cfg breakerConfig
	errs := setting.NewErrors(ErrInvalidOption)
	setting.Apply(errs, opts, func(o BreakerOption) { o.applyBreaker(&cfg, errs) })
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if cfg.meterProvider != nil {
		observeBreaker(cfg.meterProvider, b)
	}
	return &breakerExporter{exp: exp, b: b, classify: cfg.classify}, nil
}

// MustBreaker is like [NewBreaker] but panics with its error, for
// exporters composed inline in one expression.
func MustBreaker(exp sdklog.Exporter, b *breaker.Breaker, opts ...BreakerOption) sdklog.Exporter {
	e, err := NewBreaker(exp, b, opts...)
	if err != nil {
		panic(err)
	}
	return e
}

type breakerExporter struct {
	exp      sdklog.Exporter
	b        *breaker.Breaker
	classify retry.Classifier
}

// Name lets a fan-out or failover attribute errors to the inner exporter.
func (e *breakerExporter) Name() string { return nameOf(e.exp) }

func (e *breakerExporter) Export(ctx context.Context, records []sdklog.Record) error {
	allow := e.b.Allow
	if earlyProbe(ctx) {
		allow = e.b.AllowEarly
	}
	done, err := allow()
	if err != nil {
		return fmt.Errorf("steadylog/exporter: batch of %d records not sent to %s: %w", len(records), nameOf(e.exp), err)
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
