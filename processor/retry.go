package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/retry"
)

// Retry defaults (see WithRetryBackoff and WithRetryMaxElapsed). The
// processor's own retry rides out blips of a few seconds without losing
// the batch; long outages are the circuit breaker's job
// (exporter.NewBreaker). DESIGN.md explains the values.
const (
	// DefaultRetryInitial is the default wait after the first transient
	// export failure.
	DefaultRetryInitial = 100 * time.Millisecond
	// DefaultRetryMax is the default longest wait between two attempts.
	DefaultRetryMax = 500 * time.Millisecond
	// DefaultRetryMaxElapsed is the default longest time a batch is
	// retried, counted from its first failure. It matches the OTLP
	// exporters' own retry budget.
	DefaultRetryMaxElapsed = time.Minute
)

// classify applies the error classifier, which is user code: a panic in it
// keeps the error unclassified and adds the panic to it.
func (p *Processor) classify(err error) (out error) {
	if err == nil || p.cfg.classify == nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			out = errors.Join(err, fmt.Errorf("steadylog/processor: error classifier panicked: %v", r))
		}
	}()
	if out = p.cfg.classify(err); out == nil {
		out = err // a classifier must not turn a failure into a success
	}
	return out
}

// retryable reports whether a failed batch stays pending for another
// attempt: the error is transient and the destination has not spent its
// retry budget on the current outage. The budget is one per outage, not
// one per batch: it starts at the first failure after a success, and once
// it is spent every batch gets one attempt, without a backoff wait, until
// an export succeeds — so a dead backend costs one budget, however many
// batches are pending, and Shutdown with no deadline ends in about one
// budget. A failure caused by the caller's context ending (callerEnded: a
// ForceFlush or Shutdown that gave up) says nothing about the backend: it
// is retried and spends no budget. spent reports that only the spent
// budget stands in the way of a retry: a spool that bridges outages may
// then keep the batch (keepLocked). Only the worker calls it.
func (d *destination) retryable(err error, now time.Time, callerEnded bool) (ok, spent bool) {
	cfg := &d.p.cfg
	if cfg.noRetry || retry.IsPermanent(err) || errors.Is(err, errPanicked) {
		return false, false
	}
	if callerEnded {
		return true, false
	}
	if d.outageStart.IsZero() {
		d.outageStart = now
	}
	if now.Sub(d.outageStart) < cfg.retryMaxElapsed {
		return true, false
	}
	return false, true
}

// scheduleRetry sets when the worker may call the exporter again after err:
// after the backoff, or later when the error carries a server-requested
// delay or an open breaker's RetryAt — but never after budgetEnd, the end
// of the outage's retry budget. That cap is what keeps one bogus
// Retry-After (10 hours, say) or a breaker configured with an enormous
// open wait from silencing the pipeline and hanging Shutdown: at budgetEnd
// the batch gets one last attempt, and if that fails it is dropped as
// export_failed. Only the worker calls it.
func (d *destination) scheduleRetry(err error, now, budgetEnd time.Time) {
	d.lastErr = err
	var at time.Time
	// While records are being lost for want of room, every moment the
	// destination waits after the backend is back costs records, and a
	// call to a dead backend costs little: retry at the initial backoff,
	// not a doubling one, and probe an open breaker on that schedule too.
	losing := d.losingRecords()
	var open *breaker.OpenError
	if errors.As(err, &open) {
		// The breaker made no call; it knows when it will admit one, but
		// when records are lost its whole wait costs more than a call:
		// probe early (a breaker below admits it: exporter.WithEarlyProbe).
		at = open.RetryAt
		if early := now.Add(d.backoff(0)); losing && early.Before(at) {
			at, d.probeEarly = early, true
		}
		d.breakerWait = !d.probeEarly
	} else {
		d.breakerWait = false
		n := d.attempt
		if losing {
			n = 0
		}
		dur := d.backoff(n)
		if ra, ok := retry.Delay(err); ok && ra > dur {
			dur = ra // may be huge: capped below
		}
		d.attempt = min(d.attempt+1, 62)
		at = now.Add(dur)
		// A failed early probe: the breaker is still open, and the next
		// attempt would only be refused. Make it a probe again.
		d.probeEarly = d.probed && losing
	}
	if at.After(budgetEnd) {
		at = budgetEnd
	}
	if !at.After(now) {
		at = now.Add(time.Millisecond)
	}
	d.retryAt = at
}

// probeIfLosing turns a wait for an open breaker into an early probe
// once records start being lost, which they may not have been when the
// wait was scheduled. The worker calls it on its wake-ups and ticks.
func (d *destination) probeIfLosing() {
	if !d.breakerWait || d.retryAt.IsZero() || !d.losingRecords() {
		return
	}
	d.breakerWait = false
	if early := d.p.cfg.retryClock.Now().Add(d.backoff(0)); early.Before(d.retryAt) {
		d.retryAt, d.probeEarly = early, true
	}
}

// backoff is the wait before retry number n+1 of the retry backoff:
// initial doubled n times, at most max, with ±20% jitter.
func (d *destination) backoff(n int) time.Duration {
	cfg := &d.p.cfg
	dur := cfg.retryMax
	if n < 62 && cfg.retryInitial <= cfg.retryMax>>n {
		dur = cfg.retryInitial << n // cannot overflow: at most retryMax
	}
	// ±20% jitter, computed in float64 and clamped: 1.2 times a huge
	// maximum must not wrap to a negative duration.
	return time.Duration(min(float64(dur)*(0.8+0.4*rand.Float64()), float64(math.MaxInt64/2)))
}

// losingRecords reports whether records are being lost for want of room
// while this destination cannot export: back-pressure is raised (the
// store is filling), or the destination counted drops since the last retry
// was scheduled. Only the worker calls it.
func (d *destination) losingRecords() bool {
	p := d.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var drops uint64
	for _, r := range []reasonIndex{idxQueueFull, idxByteLimit, idxHeapPressure, idxBlockTimeout} {
		drops += d.dropped[r]
	}
	losing := p.pressured || drops > d.dropsSeen
	d.dropsSeen = drops
	return losing
}

// waitRetry waits for a scheduled retry while ctx allows. When ctx's
// deadline falls before the retry, it returns at once, because waiting
// could not help, with an error that wraps context.DeadlineExceeded and
// the failure that scheduled the retry (breaker.ErrOpen when a breaker
// refused).
func (d *destination) waitRetry(ctx context.Context) error {
	if d.retryAt.IsZero() {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(d.retryAt) {
		// It is a deadline outcome — the work cannot finish in time — so
		// it wraps context.DeadlineExceeded, as waiting would have, and
		// the failure that scheduled the retry.
		return fmt.Errorf("steadylog/processor: %snext export attempt at %s is after the deadline (%w): %w",
			d.label(), d.retryAt.Format(time.RFC3339Nano), context.DeadlineExceeded, d.lastErr)
	}
	clk := d.p.cfg.retryClock
	if wait := clock.Until(clk, d.retryAt); wait > 0 {
		t := clk.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.retryAt, d.breakerWait = time.Time{}, false
	return nil
}
