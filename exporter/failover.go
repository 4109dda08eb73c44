package exporter

import (
	"context"
	"errors"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/setting"
	"github.com/steadylog/steadylog/retry"
)

// FailoverOption configures [NewFailover].
type FailoverOption interface {
	applyFailover(*failoverConfig, *setting.Errors)
}

type failoverConfig struct {
	onPrimaryError func(error)
}

type failoverOptionFunc func(*failoverConfig, *setting.Errors)

func (f failoverOptionFunc) applyFailover(c *failoverConfig, errs *setting.Errors) { f(c, errs) }

// WithPrimaryErrorHandler sets a function called with the primary's error
// whenever a batch went to the fallback and the fallback delivered it (so
// Export returned nil): without it, that error would be invisible. It is
// called synchronously from Export. A panic in handle is recovered and
// discarded, and Export still returns nil: the batch was delivered, and
// handle is where an error would have been reported, so there is nowhere
// left to report its own failure (steadylog's processor treats its error
// handler the same way). Default nil: not reported.
func WithPrimaryErrorHandler(handle func(err error)) FailoverOption {
	return failoverOptionFunc(func(c *failoverConfig, _ *setting.Errors) { c.onPrimaryError = handle })
}

// NewFailover returns an exporter that sends each batch to primary and, when
// primary fails, to fallback (a stdout or file exporter, a second
// collector).
//
// The usual primary is a [NewBreaker] exporter: while its breaker is open,
// the primary refuses at once with an error wrapping [breaker.ErrOpen], and
// batches flow to the fallback without waiting on the broken backend; once
// the breaker admits calls again and the primary succeeds, batches return to
// it. There is no state in the failover itself: each batch tries the primary
// first, and the breaker decides how cheap that try is.
//
// Any primary error sends the batch to the fallback — a refusal, a timeout,
// a connection error, a panic — except a permanent one
// ([retry.IsPermanent]: the backend rejected the data itself, or accepted
// part of it): the fallback would get the same bad data, or duplicates of
// what was accepted, so the primary's error is returned instead. If the
// fallback fails too, Export returns both errors, each a [*MemberError]
// (index 0 the primary, 1 the fallback).
//
// The fallback gets the same ctx, so a primary without a breaker that hangs
// until the deadline leaves the fallback no time: guard the primary with a
// breaker and an export timeout shorter than ctx's.
//
// ForceFlush and Shutdown go to both, concurrently and isolated as in
// [NewFanout]. NewFailover returns an error if either exporter is nil, if
// one exporter is used twice, as both or inside both (see [CheckDistinct]):
// its Shutdown would be called twice, or if an option is invalid (wrapping
// [ErrInvalidOption]).
func NewFailover(primary, fallback sdklog.Exporter, opts ...FailoverOption) (sdklog.Exporter, error) {
	if isNil(primary) {
		return nil, errors.New("steadylog/exporter: NewFailover: the primary exporter is nil")
	}
	if isNil(fallback) {
		return nil, errors.New("steadylog/exporter: NewFailover: the fallback exporter is nil")
	}
	if err := CheckDistinct(primary, fallback); err != nil {
		return nil, err
	}
	var cfg failoverConfig
	errs := setting.NewErrors(ErrInvalidOption)
	setting.Apply(errs, opts, func(o FailoverOption) { o.applyFailover(&cfg, errs) })
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &failover{
		primary:        &member{index: 0, name: nameOf(primary), exp: primary},
		fallback:       &member{index: 1, name: nameOf(fallback), exp: fallback},
		onPrimaryError: cfg.onPrimaryError,
	}, nil
}

// MustFailover is like [NewFailover] but panics with its error, for
// exporters composed inline in one expression.
func MustFailover(primary, fallback sdklog.Exporter, opts ...FailoverOption) sdklog.Exporter {
	f, err := NewFailover(primary, fallback, opts...)
	if err != nil {
		panic(err)
	}
	return f
}

type failover struct {
	primary, fallback *member
	onPrimaryError    func(error)
}

func (f *failover) Export(ctx context.Context, records []sdklog.Record) error {
	perr := safeExport(ctx, f.primary.exp, records)
	if perr == nil {
		return nil
	}
	perr = f.primary.wrap(perr)
	if retry.IsPermanent(perr) {
		return perr
	}
	ferr := safeExport(ctx, f.fallback.exp, records)
	if ferr != nil {
		return errors.Join(perr, f.fallback.wrap(ferr))
	}
	if f.onPrimaryError != nil {
		f.handlePrimaryError(perr)
	}
	return nil
}

// handlePrimaryError calls the primary error handler; a panic in it is
// discarded (see WithPrimaryErrorHandler).
func (f *failover) handlePrimaryError(err error) {
	defer func() { _ = recover() }()
	f.onPrimaryError(err)
}

func (f *failover) ForceFlush(ctx context.Context) error {
	return f.both(ctx, safeForceFlush)
}

func (f *failover) Shutdown(ctx context.Context) error {
	return f.both(ctx, safeShutdown)
}

func (f *failover) both(ctx context.Context, fn func(context.Context, sdklog.Exporter) error) error {
	return (&fanout{members: []*member{f.primary, f.fallback}}).all(ctx, fn)
}
