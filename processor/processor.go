package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/otlperr"
)

// Processor is an sdklog.Processor that queues records in memory, bounded
// by count and by bytes, and exports them in batches from one worker
// goroutine. See the package documentation for the full contract.
//
// All methods are safe for concurrent use.
type Processor struct {
	cfg   config
	tel   telemetryState
	dests []*destination // fixed at New

	// mu guards everything below it and the destinations' p.mu fields.
	// Every accounting transition — a record received, evicted, pinned
	// for export, exported or dropped — happens under mu, which is what
	// makes Stats a consistent snapshot.
	mu                  sync.Mutex
	st                  *store
	acct                accounts // store-wide: exported, and dropped by reason
	received            uint64
	packedRecords       uint64 // records packed to make room (pack.go)
	closed              bool   // Shutdown has begun: admission is stopped
	unblocked           bool   // StopBlocking was called: nobody waits for room
	waiting             int    // OnEmit calls waiting for room (Block)
	acquired            int64  // bytes taken from the shared budget (WithBudget)
	heapBound           int64  // the byte bound kept under heap pressure
	heapShedding        bool   // the last admission found the heap under pressure
	pressured           bool   // back-pressure is raised
	pressureChanges     uint64
	calm                calmState     // the end of a back-pressure episode (pressure.go)
	highLen, lowLen     int64         // the watermarks in records
	highBytes, lowBytes int64         // and in bytes
	room                chan struct{} // closed when room is freed; nil while nobody waits

	pressureFlag atomic.Bool   // pressured, for Enabled's lock-free read
	pressureWake chan struct{} // a back-pressure change to deliver
	pressureQuit chan struct{}
	pressureDone chan struct{}

	provider atomic.Pointer[sdklog.LoggerProvider] // see WatchProvider

	stop    chan struct{}   // closed by Shutdown
	stopCtx context.Context // Shutdown's context, published by closing stop
}

// New returns a Processor that exports through exporter and starts its
// worker goroutine. Register it with sdklog.WithProcessor and call
// Shutdown (directly, or through the LoggerProvider) when done.
//
// When exporter is a fan-out (exporter.NewFanout or exporter.MustFanout), each
// of its members becomes a destination of its own, as with
// NewWithDestinations: one member that fails, hangs or falls behind never
// delays, duplicates or drops records for the others. Nested fan-outs are
// flattened, so each exporter at their leaves is a destination, and a
// fan-out wrapped in exporter.Named is a fan-out too (see
// exporter.FanoutMembers). A fan-out inside another decorator, such as
// exporter.NewBreaker or exporter.NewFailover, is one exporter: its members
// share each batch's fate.
//
// New fails when exporter is nil, when two destinations would share an
// exporter (exporter.CheckDistinct), or when an option has an invalid
// value. An invalid environment variable is not an error: it is reported
// to the error handler and the default is used.
func New(exp sdklog.Exporter, opts ...Option) (*Processor, error) {
	if isNil(exp) {
		return nil, ErrNilExporter
	}
	members, ok := exporter.FanoutMembers(exp)
	if !ok {
		members = []sdklog.Exporter{exp}
	}
	dests := make([]Destination, len(members))
	for i, m := range members {
		dests[i] = Destination{Exporter: m}
	}
	return NewWithDestinations(dests, opts...)
}

// NewWithDestinations returns a Processor that delivers every record to
// each of dests, and starts one worker goroutine per destination.
//
// Records are stored once, whatever the number of destinations, and the
// count and byte bounds apply to that store. Each destination exports
// from its own position in it, with its own retries, export timeout,
// breaker, metrics and accounting (Stats.Destinations); a record is
// released when every destination has exported or dropped it. A
// destination that falls behind — hung, behind an open breaker, or slow —
// cannot hold the others hostage, whatever the overflow policy: when the
// store is full, the records that the destination furthest ahead has
// passed — only laggards still need them — are evicted first, oldest
// first, and count as the laggards' drops; the others are untouched. Only
// then does the overflow policy apply (DropNewest refuses, Block waits).
// A healthy destination never receives a record twice because another
// failed.
//
// NewWithDestinations fails when dests is empty, when a destination's
// exporter is nil or a fan-out, when two destinations share an exporter or
// have the same Name, or when an option or a Destination field has an
// invalid value.
func NewWithDestinations(dests []Destination, opts ...Option) (*Processor, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if !cfg.classifySet {
		cfg.classify = otlperr.Classify
	}
	ds, err := resolveDestinations(dests, &cfg)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		cfg:   cfg,
		dests: ds,
		stop:  make(chan struct{}),
	}
	p.st = newStore(cfg.maxBatchSize, cfg.maxQueueSize, cfg.maxQueueBytes, &p.acct)
	for _, d := range ds {
		d.p = p
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
	for _, d := range ds {
		go d.run()
	}
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
		p.acct.dropped[idxAlreadyShutdown]++
		p.mu.Unlock()
		return nil
	case size > p.cfg.maxQueueBytes:
		p.received++
		p.acct.dropped[idxRecordTooLarge]++
		p.mu.Unlock()
		return nil
	}
	admitted := p.admitLocked(ctx, size, sev)
	p.received++ // counted once decided: a record waiting under Block is not received yet
	if !admitted {
		p.mu.Unlock()
		return nil
	}
	p.st.push(owned, size, sev)
	p.pushedLocked()
	notify := false
	for _, d := range p.dests { // none is abandoned: that needs Shutdown, which closed admission
		d.pending++
		d.pendingBytes += size
		if !d.wakePending && d.dueLocked() {
			d.wakePending = true
			notify = true
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
	}
	p.mu.Unlock()
	if notify {
		// Yield once per batch so the worker, just made runnable on this
		// P, runs now rather than after every other runnable emitter: with
		// many emitting goroutines on few cores the worker is otherwise
		// starved and the queue overflows. A yield is not a wait — this
		// goroutine is runnable again at once.
		runtime.Gosched()
	}
	return nil
}

// makeRoomLocked evicts stored records until one more record of size
// bytes fits (incoming), or until the store is within its bounds again
// (!incoming, after a retried batch became queued again). b are the bounds
// to meet; an incoming record must also fit the shared budget, if any.
//
// What may be evicted depends on policy (the incoming record's overflow
// policy; DropOldest when !incoming). Under every policy, records that
// only lagging destinations still need — those the destination furthest
// ahead has finished — go first, oldest first: they are the laggards'
// drops, and a destination that hangs cannot make the others refuse or
// wait. Then DropOldest evicts the oldest records (low-severity ones
// first with WithSeverityEviction); DropNewest and Block evict nothing
// more.
//
// An incoming record that eviction cannot make fit — it does not fit
// beside the batches in flight, or severity-aware eviction finds too few
// records below the threshold — evicts nothing: makeRoomLocked decides
// first, then evicts. It then returns false and the reason the record is
// dropped, which the caller counts.
//
// Each eviction counts as queue_full when the count bound forced it, else
// as b's byte reason (byte_limit, or heap_pressure) or byte_limit for the
// shared budget — store-wide, unless a destination had dropped the record
// already, and for each destination that had not finished it. p.mu must
// be held.
func (p *Processor) makeRoomLocked(size int64, sev log.Severity, incoming bool, b bounds, policy overflowKind) (bool, reasonIndex) {
	extra := 0
	if incoming {
		extra = 1
	}
	// Packing frees bytes without losing a record: it comes first.
	p.packForRoomLocked(size, b, incoming)
	lagging := p.laggardsOnlyBelowLocked()
	if incoming {
		if ok, reason := p.canMakeRoomLocked(size, sev, b, policy, lagging); !ok {
			return false, reason
		}
	}
	for {
		var reason reasonIndex
		switch {
		case p.st.queued()+extra > p.cfg.maxQueueSize:
			reason = idxQueueFull
		case p.st.heldBytes+size > b.maxBytes:
			reason = b.byteReason
		case incoming && !p.sharedFitsLocked(size):
			reason = idxByteLimit
		default:
			return true, 0
		}
		ev, ok := p.st.evict(lagging, false, 0)
		if !ok && policy == overflowDropOldest {
			if p.cfg.severityEviction {
				ev, ok = p.st.evict(math.MaxUint64, true, p.cfg.evictBelow)
				if !ok && incoming && sev < p.cfg.evictBelow {
					return false, reason // not reached: canMakeRoomLocked said it fits
				}
			}
			if !ok {
				ev, ok = p.st.evict(math.MaxUint64, false, 0)
			}
		}
		if !ok {
			// Nothing evictable is left: the batches in flight hold the
			// rest (not reached for an incoming record).
			return !incoming, reason
		}
		if !ev.lost {
			p.acct.dropped[reason]++
		}
		for _, d := range p.dests {
			d.droppedLocked(ev.seq, ev.size, reason)
		}
		p.releaseLocked()
	}
}

// laggardsOnlyBelowLocked returns the position of the destination furthest
// ahead: every record numbered below it has been finished there, so only
// destinations behind it still need it. With one destination it is 0:
// nobody lags. p.mu must be held.
func (p *Processor) laggardsOnlyBelowLocked() uint64 {
	if len(p.dests) < 2 {
		return 0
	}
	var lead uint64
	for _, d := range p.dests {
		if !d.abandoned {
			lead = max(lead, d.next)
		}
	}
	return lead
}

// canMakeRoomLocked reports whether evicting what policy allows (see
// makeRoomLocked) would let one more record of size bytes and severity sev
// fit b and the shared budget, without evicting anything; when it would
// not, it returns the reason the record is dropped. p.mu must be held.
func (p *Processor) canMakeRoomLocked(size int64, sev log.Severity, b bounds, policy overflowKind, lagging uint64) (bool, reasonIndex) {
	countNeed := int64(p.st.queued()) + 1 - int64(p.cfg.maxQueueSize)
	byteNeed := p.st.heldBytes + size - b.maxBytes
	sharedNeed := int64(math.MinInt64)
	if p.cfg.budget != nil {
		sharedNeed = size - (p.cfg.budget.Limit() - p.cfg.budget.Used())
	}
	fits := func() bool { return countNeed <= 0 && byteNeed <= 0 && sharedNeed <= 0 }
	if fits() {
		return true, 0
	}
	reason := p.overflowReasonLocked(size, b)
	if policy == overflowDropOldest && (!p.cfg.severityEviction || sev >= p.cfg.evictBelow) {
		// Every queued record may go: the most eviction can free is all of
		// them, and one slot is always enough for the count bound.
		queuedBytes := p.st.heldBytes - p.st.pinnedBytes
		if byteNeed <= queuedBytes && sharedNeed <= queuedBytes {
			return true, 0
		}
		return false, reason
	}
	// Only some records may go: add them up in eviction order, and stop as
	// soon as enough would be freed.
	take := func(sz int64) bool {
		countNeed--
		byteNeed -= sz
		if sharedNeed != math.MinInt64 {
			sharedNeed -= sz
		}
		return !fits()
	}
	p.st.evictable(0, lagging, false, 0, take)
	if !fits() && policy == overflowDropOldest { // severity-aware, for a record below the threshold
		p.st.evictable(lagging, math.MaxUint64, true, p.cfg.evictBelow, take)
	}
	if fits() {
		return true, 0
	}
	return false, reason
}

// enforceBoundsLocked evicts until the store is within its bounds. p.mu
// must be held.
func (p *Processor) enforceBoundsLocked() {
	p.makeRoomLocked(0, 0, false, bounds{maxBytes: p.cfg.maxQueueBytes, byteReason: idxByteLimit}, overflowDropOldest)
}

// releaseStoreLocked releases the records every destination has finished,
// then gives their bytes back and wakes the OnEmit calls waiting for
// room. p.mu must be held.
func (p *Processor) releaseStoreLocked() {
	upTo := p.st.nextSeq
	for _, d := range p.dests {
		upTo = min(upTo, d.next)
	}
	p.st.release(upTo)
	p.releaseLocked()
	p.roomFreedLocked()
}

// Stats returns a consistent snapshot of the processor's accounting.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	queued, inFlight := p.st.undecided()
	s := Stats{
		Received:      p.received,
		Exported:      p.acct.exported,
		Queued:        queued,
		QueuedBytes:   p.st.heldBytes - p.st.pinnedBytes,
		InFlight:      inFlight,
		InFlightBytes: p.st.pinnedBytes,
		Packed:        p.packedRecords,
		Waiting:       p.waiting,

		BackPressure:        p.pressured,
		BackPressureChanges: p.pressureChanges,

		Destinations: make([]DestinationStats, len(p.dests)),
	}
	for i, n := range p.acct.dropped {
		if n > 0 {
			if s.Dropped == nil {
				s.Dropped = make(map[DropReason]uint64, numReasons)
			}
			s.Dropped[reasonIndex(i).reason()] = n
		}
	}
	for i, d := range p.dests {
		s.Destinations[i] = d.statsLocked()
	}
	return s
}

// RecordCounts returns the records exported and dropped so far. It lets
// code that only knows interfaces (such as the lifecycle package) report
// what a shutdown delivered.
func (p *Processor) RecordCounts() (exported, dropped uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.acct.dropped {
		dropped += n
	}
	return p.acct.exported, dropped
}

// ForceFlush exports every record queued before the call, to every
// destination, then calls the exporters' ForceFlush. It returns early with
// ctx's error when ctx ends first, and with an error wrapping
// ErrExporterHung when a destination's exporter call overruns its
// deadline by OverrunGrace (the other destinations flush meanwhile); the
// records not exported stay queued and are exported later. After Shutdown
// it returns nil at once: there is nothing left to flush.
func (p *Processor) ForceFlush(ctx context.Context) error {
	p.mu.Lock()
	closed := p.closed
	seq, any := p.st.lastSeq()
	p.mu.Unlock()
	if closed {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	results := make([]chan error, len(p.dests)) // nil where no request was sent
	errs := make([]error, len(p.dests))
	for i, d := range p.dests {
		result := make(chan error, 1)
		select {
		case d.flushReq <- flushRequest{ctx: ctx, seq: seq, any: any, result: result}:
			results[i] = result
		case <-d.done:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.overrun.current():
			errs[i] = d.wrap(ErrExporterHung)
		}
	}
	for i, d := range p.dests {
		if results[i] == nil {
			continue
		}
		select {
		case err := <-results[i]:
			errs[i] = d.wrap(err)
		case <-d.done:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.overrun.current():
			errs[i] = d.wrap(ErrExporterHung)
		}
	}
	return errors.Join(errs...)
}

// wrap names the destination in err when the processor has several.
func (d *destination) wrap(err error) error {
	if err == nil || len(d.p.dests) == 1 {
		return err
	}
	return fmt.Errorf("steadylog/processor: destination %q: %w", d.name, err)
}

// Shutdown stops admission (later records count as already_shutdown),
// exports what is queued to every destination, then calls each
// destination's exporter's ForceFlush and Shutdown.
//
// When ctx ends first, Shutdown returns ctx's error at once — even if an
// exporter ignores its context — and every record not yet exported,
// queued or in flight, is counted as dropped with reason shutdown. A late
// result from an abandoned export is ignored. The worker goroutines then
// end as soon as their exporters return. With a context that never ends,
// Shutdown still returns: a dead backend's retries end with the outage's
// retry budget (WithRetryMaxElapsed), and an exporter call that overruns
// its deadline (the export timeout) by OverrunGrace makes Shutdown give up
// on that destination the same way, returning an error wrapping
// ErrExporterHung, while the others finish.
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
		// It outlives ctx by FinalSummaryGrace: with an ended ctx
		// (lifecycle.Immediate) the last summaries must still be written
		// before Shutdown returns, or a program exiting right after loses
		// them.
		quiet, cancel := finalContext(ctx)
		defer cancel()
		p.stopPressure(quiet)
		p.cfg.stopErrors(quiet) // the last error summary, before the drop summary it explains
		p.tel.stop(quiet)
	}()

	errs := make([]error, len(p.dests))
	ended := ctx.Err() != nil
	for i, d := range p.dests {
		if ended {
			break
		}
		select {
		case <-d.done:
			errs[i] = d.wrap(d.stopErr)
		case <-ctx.Done():
			ended = true
		case <-d.overrun.current():
			p.abandon(d)
			errs[i] = d.wrap(ErrExporterHung)
		}
	}
	if ended {
		for _, d := range p.dests {
			p.abandon(d)
		}
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// abandon counts everything destination d has not exported yet as
// dropped by shutdown.
func (p *Processor) abandon(d *destination) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d.abandonLocked(idxShutdown)
	d.abandoned = true
}

func (p *Processor) lastSeq() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.lastSeq()
}
