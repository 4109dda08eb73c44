package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/steadylog/steadylog/breaker"
)

// Retry defaults. The backoff is short because long outages are the
// circuit breaker's job (exporter.WithBreaker): the processor's own retry
// rides out blips of a few seconds without losing the batch.
const (
	// DefaultRetryInitial is the default wait after the first transient
	// export failure.
	DefaultRetryInitial = 100 * time.Millisecond
	// DefaultRetryMax is the default longest wait between two attempts.
	// It is short because an attempt against a collector that is down
	// costs little (a refused connection), while every moment spent
	// waiting after the collector is back costs records once the queue
	// overflows: against a collector killed for 3 s and up for 2 s, at
	// 10,000 records/s with the default queue, a 5 s cap delivered nothing
	// in two windows out of three, a 1 s cap delivered 12% less than the
	// SDK's BatchProcessor, and 500 ms as much as it. Long outages are the
	// breaker's job (exporter.WithBreaker).
	DefaultRetryMax = 500 * time.Millisecond
	// DefaultRetryMaxElapsed is the default longest time a batch is
	// retried, counted from its first failure. It matches the OTLP
	// exporters' own retry budget.
	DefaultRetryMaxElapsed = time.Minute
)

// WithRetryBackoff sets the wait before retrying a batch whose export
// failed transiently: initial after the first failure, doubling (with
// ±20% jitter) up to max. A failure that carries a server-requested delay
// (breaker.WithRetryAfter) waits at least that long; a refusal by an open
// breaker waits until the breaker admits a probe. No wait, whatever its
// source, reaches past the batch's retry time (WithRetryMaxElapsed): a
// Retry-After of ten hours means one last attempt when that time is up.
//
// A retried batch stays at the head of the queue, older than everything
// queued since: the queue keeps admitting, and when it overflows the
// retried records are the first evicted. Errors marked
// breaker.Permanent, and exporter panics, are not retried: their records
// are dropped as export_failed.
//
// Default: on, with 100ms and 500ms. Non-positive values, or max < initial,
// make New fail.
func WithRetryBackoff(initial, max time.Duration) Option {
	return optionFunc(func(c *config) {
		if initial <= 0 || max < initial {
			c.reject("WithRetryBackoff(%v, %v): want 0 < initial <= max", initial, max)
			return
		}
		c.retryInitial, c.retryMax = initial, max
	})
}

// WithRetryMaxElapsed sets how long a batch is retried, counted from its
// first failure (waits for an open breaker and server-requested delays
// included: they are cut short at this limit). After that its records are
// dropped as export_failed: an outage of seconds is ridden out, a long one
// fails fast instead of holding stale records — and Shutdown with a
// context that never ends cannot hang on a dead backend.
//
// Default: 1 minute. A value ≤ 0 makes New fail.
func WithRetryMaxElapsed(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.reject("WithRetryMaxElapsed(%v): must be positive", d)
			return
		}
		c.retryMaxElapsed = d
	})
}

// WithoutRetry drops a batch whose export fails (export_failed) instead of
// retrying it.
func WithoutRetry() Option {
	return optionFunc(func(c *config) { c.noRetry = true })
}

// retryable reports whether a failed batch goes back to the queue: the
// error is transient and the batch has not used up its retry time.
func (p *Processor) retryable(err error, c *chunk, now time.Time) bool {
	if p.cfg.noRetry || breaker.IsPermanent(err) || errors.Is(err, errPanicked) {
		return false
	}
	if c.firstFail.IsZero() {
		c.firstFail = now
	}
	return now.Sub(c.firstFail) < p.cfg.retryMaxElapsed
}

// scheduleRetry sets when the worker may call the exporter again after err:
// after the backoff, or later when the error carries a server-requested
// delay or an open breaker's RetryAt — but never after budgetEnd, the end
// of the failed batch's retry time. That cap is what keeps one bogus
// Retry-After (10 hours, say) or a breaker configured with an enormous
// open wait from silencing the pipeline and hanging Shutdown: at budgetEnd
// the batch gets one last attempt, and if that fails it is dropped as
// export_failed. Only the worker calls it.
func (p *Processor) scheduleRetry(err error, now, budgetEnd time.Time) {
	p.lastErr = err
	var at time.Time
	var open *breaker.OpenError
	if errors.As(err, &open) {
		// The breaker made no call; it knows when it will admit one.
		at = open.RetryAt
	} else {
		d := p.cfg.retryMax
		if p.attempt < 62 && p.cfg.retryInitial <= p.cfg.retryMax>>p.attempt {
			d = p.cfg.retryInitial << p.attempt // cannot overflow: at most retryMax
		}
		// ±20% jitter, computed in float64 and clamped: 1.2 times a huge
		// maximum must not wrap to a negative duration.
		d = time.Duration(min(float64(d)*(0.8+0.4*rand.Float64()), float64(math.MaxInt64/2)))
		if ra, ok := breaker.RetryAfter(err); ok && ra > d {
			d = ra // may be huge: capped below
		}
		p.attempt = min(p.attempt+1, 62)
		at = now.Add(d)
	}
	if at.After(budgetEnd) {
		at = budgetEnd
	}
	if !at.After(now) {
		at = now.Add(time.Millisecond)
	}
	p.retryAt = at
}

// waitRetry waits for a scheduled retry while ctx allows. When ctx's
// deadline falls before the retry, it returns at once, because waiting
// could not help, with an error that wraps context.DeadlineExceeded and
// the failure that scheduled the retry (breaker.ErrOpen when a breaker
// refused).
func (p *Processor) waitRetry(ctx context.Context) error {
	if p.retryAt.IsZero() {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(p.retryAt) {
		// It is a deadline outcome — the work cannot finish in time — so
		// it wraps context.DeadlineExceeded, as waiting would have, and
		// the failure that scheduled the retry.
		return fmt.Errorf("steadylog/processor: next export attempt at %s is after the deadline (%w): %w",
			p.retryAt.Format(time.RFC3339Nano), context.DeadlineExceeded, p.lastErr)
	}
	if wait := time.Until(p.retryAt); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.retryAt = time.Time{}
	return nil
}
