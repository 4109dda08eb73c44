package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/nilness"
)

// This file holds every call the processor makes into code it does not
// own — the exporter, the error handler — and the rule they follow: a
// panic in user code is recovered where it happens and becomes an error,
// so it can neither kill the worker goroutine (and with it every later
// record) nor the host process. The meter provider's calls are guarded in
// telemetry.go, the drop alerter's in the telemetry package.

// errPanicked marks an exporter panic: a bug, not a backend outage, so it
// is never retried.
var errPanicked = errors.New("steadylog/processor: exporter panicked")

// isNil reports whether exp is nil, typed nil included (see nilness.Is).
func isNil(exp sdklog.Exporter) bool { return nilness.Is(exp) }

// callExport calls the exporter, turning a panic into an error. ctx has
// the export timeout as its deadline.
func (d *destination) callExport(ctx context.Context, recs []sdklog.Record) (err error) {
	defer d.overrun.watch(d.exportTimeout)()
	defer recoverAs(&err, "Export")
	return d.exp.Export(ctx, recs)
}

// callForceFlush calls the exporter's ForceFlush, bounded by the export
// timeout, turning a panic into an error.
func (d *destination) callForceFlush(ctx context.Context) (err error) {
	ctx, cancel, bound := d.boundedContext(ctx)
	defer cancel()
	defer d.overrun.watch(bound)()
	defer recoverAs(&err, "ForceFlush")
	return d.exp.ForceFlush(ctx)
}

// callShutdown calls the exporter's Shutdown, bounded by the export
// timeout, turning a panic into an error.
func (d *destination) callShutdown(ctx context.Context) (err error) {
	ctx, cancel, bound := d.boundedContext(ctx)
	defer cancel()
	defer d.overrun.watch(bound)()
	defer recoverAs(&err, "Shutdown")
	return d.exp.Shutdown(ctx)
}

func recoverAs(err *error, method string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w in %s: %v", errPanicked, method, r)
	}
}

// safeHandle passes err to the error handler h. A panicking handler is
// swallowed: the handler is where errors go, so there is nowhere left to
// report its own failure, and the worker must keep exporting.
func safeHandle(h func(error), err error) {
	defer func() { _ = recover() }()
	h(err)
}

// errCallerEnded is the cause of an export context that ended because the
// context of the caller — a ForceFlush or Shutdown that gave up — ended,
// not because the export took longer than its timeout. It wraps
// context.Canceled and, on purpose, not the caller's own error: a caller's
// deadline is not the backend's deadline, and a circuit breaker reading
// the error (breaker.DefaultClassify ignores cancellations) must not count
// it as a backend failure.
var errCallerEnded = fmt.Errorf("steadylog/processor: the caller's context ended: %w", context.Canceled)

// exportContext returns the context of one Export call made on behalf of
// parent. It ends with context.DeadlineExceeded when the export timeout
// passes — the backend was too slow — and with context.Canceled (cause
// errCallerEnded) as soon as parent ends for any reason, deadline
// included. It carries parent's values; its deadline is the export
// timeout's alone.
//
// It also carries the workerKey mark of p, so that a record an exporter
// logs with it is never made to wait for room (see emittedByWorker).
func (p *Processor) exportContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	marked := context.WithValue(parent, workerKey{}, p)
	if parent.Done() == nil { // context.Background and the like: nothing to detach
		return context.WithTimeout(marked, timeout)
	}
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(marked))
	if parent.Err() != nil {
		cancelBase(errCallerEnded)
	}
	stop := context.AfterFunc(parent, func() { cancelBase(errCallerEnded) })
	ctx, cancelTimeout := context.WithTimeout(base, timeout)
	return ctx, func() {
		stop()
		cancelTimeout()
		cancelBase(context.Canceled)
	}
}

// ErrExporterHung is returned by ForceFlush and Shutdown when they stop
// waiting for an exporter call that has overrun its deadline by
// OverrunGrace: an exporter that ignores its context. The call goes on in
// the worker goroutine, which resumes when it returns; Shutdown counts
// what it still held as dropped (reason shutdown), as when its own context
// ends.
var ErrExporterHung = errors.New("steadylog/processor: exporter call overran its deadline")

// OverrunGrace is how long past its deadline an exporter call may run
// before ForceFlush and Shutdown stop waiting for it. Export's deadline is
// the export timeout; the exporter's ForceFlush and Shutdown get the export
// timeout too when their caller's context has no earlier deadline. The
// grace lets an exporter that honours its context unwind.
const OverrunGrace = 250 * time.Millisecond

// overrun is the watch on the worker's calls into the exporter. It is what
// bounds ForceFlush and Shutdown called with a context that never ends: a
// call into an exporter that ignores its context would otherwise block
// them — and a program's exit — for ever.
//
// ch is closed when the call in progress overruns its deadline by
// OverrunGrace, and replaced by a fresh channel once that call returns.
// Waiters take the current channel when they start waiting: it closes if
// the worker is, or becomes, stuck while they wait.
type overrun struct {
	mu sync.Mutex
	ch chan struct{}
}

func (o *overrun) current() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ch == nil {
		o.ch = make(chan struct{})
	}
	return o.ch
}

// watch arms the watch for one call that must return within bound; the
// worker calls the returned function when the call returns.
func (o *overrun) watch(bound time.Duration) (returned func()) {
	o.mu.Lock()
	if o.ch == nil {
		o.ch = make(chan struct{})
	}
	ch := o.ch
	o.mu.Unlock()
	limit := bound + OverrunGrace
	if limit < bound { // an export timeout near math.MaxInt64
		limit = math.MaxInt64
	}
	t := time.AfterFunc(limit, func() { close(ch) })
	return func() {
		if !t.Stop() { // fired: the call overran; it has returned now
			o.mu.Lock()
			o.ch = make(chan struct{})
			o.mu.Unlock()
		}
	}
}

// boundedContext gives an exporter's ForceFlush or Shutdown the export
// timeout when ctx has no earlier deadline, and returns the bound the call
// is watched with.
func (d *destination) boundedContext(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	bound := d.exportTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < bound {
		bound = max(time.Until(dl), 0)
	}
	c, cancel := context.WithTimeout(context.WithValue(ctx, workerKey{}, d.p), d.exportTimeout)
	return c, cancel, bound
}
