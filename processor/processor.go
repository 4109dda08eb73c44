package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/memguard"
)

// Processor is an sdklog.Processor that queues records in memory, bounded
// by count and by bytes, and exports them in batches from one worker
// goroutine. See the package documentation for the full contract.
//
// All methods are safe for concurrent use.
type Processor struct {
	exporter sdklog.Exporter
	cfg      config
	tel      telemetryState

	// mu guards everything below it. Every accounting transition — a
	// record received, evicted, detached for export, exported or dropped —
	// happens under mu, which is what makes Stats a consistent snapshot.
	mu                  sync.Mutex
	q                   *queue
	received            uint64
	exported            uint64
	dropped             [numReasons]uint64
	inFlight            int
	inFlightBytes       int64
	closed              bool  // Shutdown has begun: admission is stopped
	abandoned           bool  // Shutdown's context ended: the in-flight batch was counted as dropped
	wakePending         bool  // a wake-up is already on its way to the worker
	waiting             int   // OnEmit calls waiting for room (Block)
	acquired            int64 // bytes taken from the shared budget (WithBudget)
	heapBound           int64 // the byte bound kept under heap pressure
	heapShedding        bool  // the last admission found the heap under pressure
	pressured           bool  // back-pressure is raised
	pressureChanges     uint64
	highLen, lowLen     int64         // the watermarks in records
	highBytes, lowBytes int64         // and in bytes
	room                chan struct{} // closed when room is freed; nil while nobody waits

	// Owned by the worker goroutine.
	retryAt time.Time // no export before this time; zero when none is pending
	attempt int       // consecutive transient failures, for the backoff
	lastErr error     // the failure that set retryAt

	overrun  overrun       // lets ForceFlush and Shutdown give up on a stuck exporter call
	workerID atomic.Uint64 // the worker's goroutine ID, for Block (see emittedByWorker)

	pressureFlag atomic.Bool   // pressured, for Enabled's lock-free read
	pressureWake chan struct{} // a back-pressure change to deliver
	pressureQuit chan struct{}
	pressureDone chan struct{}

	wake     chan struct{}     // the queue holds a full batch
	flushReq chan flushRequest // ForceFlush calls
	stop     chan struct{}     // closed by Shutdown
	done     chan struct{}     // closed when the worker has finished
	stopCtx  context.Context   // Shutdown's context, published by closing stop
	stopErr  error             // the exporter's ForceFlush/Shutdown result, published by closing done
}

type flushRequest struct {
	ctx    context.Context
	seq    uint64 // export every record with a sequence number ≤ seq
	any    bool   // false when nothing was ever queued
	result chan error
}

// New returns a Processor that exports through exporter and starts its
// worker goroutine. Register it with sdklog.WithProcessor and call
// Shutdown (directly, or through the LoggerProvider) when done.
//
// New fails when exporter is nil or an option has an invalid value. An
// invalid environment variable is not an error: it is reported to the
// error handler and the default is used.
func New(exporter sdklog.Exporter, opts ...Option) (*Processor, error) {
	if isNil(exporter) {
		return nil, ErrNilExporter
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		exporter: exporter,
		cfg:      cfg,
		q:        newQueue(cfg.maxBatchSize, cfg.maxQueueSize, cfg.maxQueueBytes),
		wake:     make(chan struct{}, 1),
		flushReq: make(chan flushRequest),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	maxLen, maxBytes := int64(cfg.maxQueueSize), cfg.maxQueueBytes
	p.highLen, p.lowLen = watermark(maxLen, cfg.highMark), watermark(maxLen, cfg.lowMark)
	p.highBytes, p.lowBytes = watermark(maxBytes, cfg.highMark), watermark(maxBytes, cfg.lowMark)
	p.heapBound = int64(float64(maxBytes) * HeapPressureShare)
	p.pressureWake = make(chan struct{}, 1)
	p.pressureQuit, p.pressureDone = make(chan struct{}), make(chan struct{})
	if err := p.tel.start(p); err != nil {
		return nil, err
	}
	go p.pressureLoop(p.pressureQuit, p.pressureDone)
	go p.run()
	return p, nil
}

// Enabled reports true: the processor takes every record, and counts the
// ones it cannot keep. (Answering false after Shutdown would hide those
// records from the already_shutdown count.) The exception is WithShedBelow:
// while back-pressure is raised, Enabled reports false for records below
// its threshold, and counts each as shed.
func (p *Processor) Enabled(_ context.Context, param sdklog.EnabledParameters) bool {
	return p.enabled(param)
}

// OnEmit queues a clone of r. It never blocks on the exporter or on I/O
// unless the record's overflow policy is Block: when the queue is full it
// evicts the oldest record (DropOldest, the default; see
// WithSeverityEviction), refuses r (DropNewest) or waits for room (Block,
// until the timeout, ctx's end or Shutdown), and counts every drop. It
// always returns nil; drops are counted in Stats, not reported as errors,
// because the SDK would route an error to the global handler on every log
// call.
func (p *Processor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if r == nil {
		return nil
	}
	size := memguard.RecordSize(r)
	sev := r.Severity()
	owned := r
	if r.AttributesLen() > inlineAttrs {
		// Attributes beyond the inline array live in a slice the caller
		// may reuse: clone it. Cloning allocates, so it happens before the
		// mutex is taken, where a GC assist cannot stretch the critical
		// section every emitter waits on.
		clone := r.Clone()
		owned = &clone
	}

	p.mu.Lock()
	switch {
	case p.closed:
		p.received++
		p.dropped[idxAlreadyShutdown]++
		p.mu.Unlock()
		return nil
	case size > p.cfg.maxQueueBytes:
		p.received++
		p.dropped[idxRecordTooLarge]++
		p.mu.Unlock()
		return nil
	}
	admitted := p.admitLocked(ctx, size, sev)
	p.received++ // counted once decided: a record waiting under Block is not received yet
	if !admitted {
		p.mu.Unlock()
		return nil
	}
	p.q.push(owned, size, sev)
	p.pushedLocked()
	notify := p.exportDueLocked() && !p.wakePending
	if notify {
		p.wakePending = true
	}
	p.mu.Unlock()
	if notify {
		select {
		case p.wake <- struct{}{}:
		default:
		}
		// Yield once per batch so the worker, just made runnable on this
		// P, runs now rather than after every other runnable emitter: with
		// many emitting goroutines on few cores the worker is otherwise
		// starved and the queue overflows. A yield is not a wait — this
		// goroutine is runnable again at once.
		runtime.Gosched()
	}
	return nil
}

// makeRoomLocked evicts queued records until one more record of size
// bytes fits (incoming), or until the queue is within its bounds again
// (!incoming, after a retried batch was put back). b are the bounds to
// meet; an incoming record must also fit the shared budget, if any. Each
// eviction counts as queue_full when the count bound forced it, else as
// b's byte reason (byte_limit, or heap_pressure) or byte_limit for the
// shared budget. It returns false when severity-aware eviction picks the
// incoming record itself, or when nothing queued is left to evict. p.mu
// must be held.
func (p *Processor) makeRoomLocked(size int64, sev log.Severity, incoming bool, b bounds) bool {
	extra := 0
	if incoming {
		extra = 1
	}
	for {
		var reason reasonIndex
		switch {
		case p.q.len+extra > p.cfg.maxQueueSize:
			reason = idxQueueFull
		case p.q.bytes+p.inFlightBytes+size > b.maxBytes:
			reason = b.byteReason
		case incoming && !p.sharedFitsLocked(size):
			reason = idxByteLimit
		default:
			return true
		}
		if p.q.len == 0 {
			// The batch in flight holds the rest of the budget and
			// nothing queued is left to evict: the newcomer waits for
			// nothing and is dropped.
			if incoming {
				p.dropped[reason]++
				return false
			}
			return true
		}
		p.dropped[reason]++
		evicted := false
		if p.cfg.severityEviction {
			if p.q.evictOldestBelow(p.cfg.evictBelow) {
				evicted = true
			} else if incoming && sev < p.cfg.evictBelow {
				return false
			}
		}
		if !evicted {
			p.q.evictOldest()
		}
		p.releaseLocked()
	}
}

// enforceBoundsLocked evicts until the queue is within its bounds. p.mu
// must be held.
func (p *Processor) enforceBoundsLocked() {
	p.makeRoomLocked(0, 0, false, bounds{maxBytes: p.cfg.maxQueueBytes, byteReason: idxByteLimit})
}

// Stats returns a consistent snapshot of the processor's accounting.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Received:      p.received,
		Exported:      p.exported,
		Queued:        p.q.len,
		QueuedBytes:   p.q.bytes,
		InFlight:      p.inFlight,
		InFlightBytes: p.inFlightBytes,
		Waiting:       p.waiting,

		BackPressure:        p.pressured,
		BackPressureChanges: p.pressureChanges,
	}
	for i, n := range p.dropped {
		if n > 0 {
			if s.Dropped == nil {
				s.Dropped = make(map[DropReason]uint64, numReasons)
			}
			s.Dropped[reasonIndex(i).reason()] = n
		}
	}
	return s
}

// RecordCounts returns the records exported and dropped so far. It lets
// code that only knows interfaces (such as the lifecycle package) report
// what a shutdown delivered.
func (p *Processor) RecordCounts() (exported, dropped uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.dropped {
		dropped += n
	}
	return p.exported, dropped
}

// ForceFlush exports every record queued before the call, then calls the
// exporter's ForceFlush. It returns early with ctx's error when ctx ends
// first, and with ErrExporterHung when an exporter call overruns its
// deadline by OverrunGrace; the records stay queued and are exported
// later. After Shutdown it returns nil at once: there is nothing left to
// flush.
func (p *Processor) ForceFlush(ctx context.Context) error {
	p.mu.Lock()
	closed := p.closed
	seq, any := p.q.lastSeq()
	p.mu.Unlock()
	if closed {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req := flushRequest{ctx: ctx, seq: seq, any: any, result: make(chan error, 1)}
	stuck := p.overrun.current()
	select {
	case p.flushReq <- req:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stuck:
		return ErrExporterHung
	}
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-stuck:
		return ErrExporterHung
	}
}

// Shutdown stops admission (later records count as already_shutdown),
// exports what is queued, then calls the exporter's ForceFlush and
// Shutdown.
//
// When ctx ends first, Shutdown returns ctx's error at once — even if the
// exporter ignores its context — and every record not yet exported,
// queued or in flight, is counted as dropped with reason shutdown. A late
// result from an abandoned export is ignored. The worker goroutine then
// ends as soon as the exporter returns. With a context that never ends,
// Shutdown still returns: a dead backend's retries end with the retry
// time (WithRetryMaxElapsed), and an exporter call that overruns its
// deadline (the export timeout) by OverrunGrace makes Shutdown give up on
// it the same way, returning ErrExporterHung.
//
// Only the first call does anything; later calls return nil.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.stopCtx = ctx
	p.mu.Unlock()
	close(p.stop)
	defer func() {
		// One bound for both reporters of the alert logger, not one each.
		quiet, cancel := context.WithTimeout(ctx, alertStopLimit)
		defer cancel()
		p.stopPressure(quiet)
		p.tel.stop(quiet)
	}()

	if ctx.Err() == nil {
		select {
		case <-p.done:
			return p.stopErr
		case <-ctx.Done():
		case <-p.overrun.current():
			p.abandon()
			return ErrExporterHung
		}
	}
	p.abandon()
	return ctx.Err()
}

// abandon counts everything that is not exported yet as dropped by
// shutdown.
func (p *Processor) abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.abandoned {
		return
	}
	p.abandoned = true
	p.dropped[idxShutdown] += uint64(p.q.drain() + p.inFlight)
	p.inFlight, p.inFlightBytes = 0, 0
	p.releaseLocked()
	p.roomFreedLocked()
}

// run is the worker: the only goroutine that calls the exporter's Export,
// so calls never overlap.
func (p *Processor) run() {
	defer close(p.done)
	p.workerID.Store(goroutineID())
	ticker := time.NewTicker(p.cfg.exportInterval)
	defer ticker.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	background := context.Background()
	for {
		var retryC <-chan time.Time
		if !p.retryAt.IsZero() {
			retry.Reset(time.Until(p.retryAt))
			retryC = retry.C
		}
		select {
		case <-p.wake:
			if p.retryAt.IsZero() {
				_ = p.exportWhile(background, false, p.exportDueLocked)
			}
		case <-ticker.C:
			if p.retryAt.IsZero() {
				_ = p.exportWhile(background, false, p.queuedUpTo(p.lastSeq()))
			}
		case <-retryC:
			p.retryAt = time.Time{}
			_ = p.exportWhile(background, false, p.queuedUpTo(p.lastSeq()))
		case req := <-p.flushReq:
			var err error
			if req.any {
				err = p.exportWhile(req.ctx, true, p.queuedUpTo(req.seq, true))
			}
			req.result <- errors.Join(err, p.callForceFlush(req.ctx))
		case <-p.stop:
			p.drain()
			return
		}
		retry.Stop()
	}
}

func (p *Processor) lastSeq() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.q.lastSeq()
}

// exportDueLocked reports whether the queue holds enough to export now:
// a full batch, or half the byte budget. The byte trigger matters for
// large records: 64 records of 1 MiB fill a 64 MiB budget long before a
// 512-record batch, and waiting for the interval would evict most of
// them. p.mu must be held.
func (p *Processor) exportDueLocked() bool {
	return p.q.len >= p.cfg.maxBatchSize || p.q.bytes >= p.cfg.maxQueueBytes/2 || p.waiting > 0 ||
		(p.heapShedding && p.q.bytes >= p.heapBound/2)
}

// queuedUpTo returns an exportWhile condition that holds while a record
// with a sequence number ≤ seq is queued.
func (p *Processor) queuedUpTo(seq uint64, any bool) func() bool {
	return func() bool {
		head, ok := p.q.headSeq()
		return any && ok && head <= seq
	}
}

// exportWhile exports batches, oldest first, while more (evaluated under
// p.mu) holds and ctx allows. When a retry is pending it returns at once,
// or, with wait, waits for it within ctx. It returns the errors of batches
// that were dropped, and the reason it stopped early, if any.
func (p *Processor) exportWhile(ctx context.Context, wait bool, more func() bool) error {
	var errs []error
	for {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if !p.retryAt.IsZero() {
			if !wait {
				return errors.Join(errs...)
			}
			if err := p.waitRetry(ctx); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		p.mu.Lock()
		p.wakePending = false
		var c *chunk
		if !p.abandoned && more() {
			c = p.detachLocked()
		}
		p.mu.Unlock()
		if c == nil {
			return errors.Join(errs...)
		}
		if err, retrying := p.export(ctx, c); err != nil && !retrying {
			errs = append(errs, err)
		}
	}
}

// drain runs at Shutdown: it exports what is queued while Shutdown's
// context (and the breaker) allow, counts what is left as dropped by
// shutdown, then shuts the exporter down.
func (p *Processor) drain() {
	ctx := p.stopCtx
	err := p.exportWhile(ctx, true, func() bool { return p.q.len > 0 })
	p.mu.Lock()
	if !p.abandoned {
		p.dropped[idxShutdown] += uint64(p.q.drain())
		p.releaseLocked()
		p.roomFreedLocked()
	}
	p.mu.Unlock()
	p.stopErr = errors.Join(err, p.callForceFlush(ctx), p.callShutdown(ctx))
}

// detachLocked takes the oldest batch off the queue and counts it in
// flight. p.mu must be held.
func (p *Processor) detachLocked() *chunk {
	c := p.q.detach()
	if c != nil {
		p.inFlight += c.live
		p.inFlightBytes += c.heldBytes
		p.releaseLocked()
		p.roomFreedLocked() // the count bound is the queue's: a detached batch frees it
	}
	return c
}

// export hands one batch to the exporter and accounts for the outcome:
// exported; back at the head of the queue for a retry (retrying is true);
// or dropped as export_failed.
func (p *Processor) export(parent context.Context, c *chunk) (err error, retrying bool) {
	n := c.live
	// The caller's context ending (a ForceFlush or Shutdown that gives up)
	// cancels the export; the export timeout ends it with a deadline. A
	// breaker below can tell the two apart: see exportContext.
	ctx, cancel := p.exportContext(parent, p.cfg.exportTimeout)
	started := time.Now()
	err = p.callExport(ctx, c.batch())
	cancel()
	p.tel.exported(parent, c.batch(), started, err)
	now := time.Now()
	retrying = err != nil && p.retryable(err, c, now)
	// Read while the worker still owns c: once requeued, c belongs to the
	// queue, and OnEmit may evict and recycle it.
	budgetEnd := c.firstFail.Add(p.cfg.retryMaxElapsed)

	p.mu.Lock()
	switch {
	case p.abandoned:
		// Shutdown already counted this batch as dropped.
		p.q.recycle(c, true)
	case err == nil:
		p.inFlight, p.inFlightBytes = p.inFlight-n, p.inFlightBytes-c.heldBytes
		p.exported += uint64(n)
		p.q.recycle(c, true)
	case retrying:
		p.inFlight, p.inFlightBytes = p.inFlight-n, p.inFlightBytes-c.heldBytes
		p.q.requeue(c)
		p.enforceBoundsLocked()
	default:
		p.inFlight, p.inFlightBytes = p.inFlight-n, p.inFlightBytes-c.heldBytes
		p.dropped[idxExportFailed] += uint64(n)
		p.q.recycle(c, true)
	}
	p.releaseLocked()
	p.roomFreedLocked() // the batch's bytes left the budget
	p.mu.Unlock()

	if err == nil {
		p.attempt, p.lastErr = 0, nil
		return nil, false
	}
	if retrying && parent.Err() == nil {
		// A failure caused by the caller's context ending (a flush or
		// shutdown giving up) says nothing about the backend: requeue
		// without a backoff.
		p.scheduleRetry(err, now, budgetEnd)
	}
	// A refusal by an open breaker is expected and frequent; the failures
	// that opened it were reported already.
	if !errors.Is(err, breaker.ErrOpen) {
		verb := "dropped"
		if retrying {
			verb = "will be retried"
		}
		safeHandle(p.cfg.errorHandler, fmt.Errorf("steadylog/processor: export of %d records failed (%s): %w", n, verb, err))
	}
	return err, retrying
}
