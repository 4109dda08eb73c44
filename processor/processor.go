package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/memguard"
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
	closed              bool  // Shutdown has begun: admission is stopped
	waiting             int   // OnEmit calls waiting for room (Block)
	acquired            int64 // bytes taken from the shared budget (WithBudget)
	heapBound           int64 // the byte bound kept under heap pressure
	heapShedding        bool  // the last admission found the heap under pressure
	pressured           bool  // back-pressure is raised
	pressureChanges     uint64
	calm                calmState     // the end of a back-pressure episode (pressure.go)
	highLen, lowLen     int64         // the watermarks in records
	highBytes, lowBytes int64         // and in bytes
	room                chan struct{} // closed when room is freed; nil while nobody waits

	pressureFlag atomic.Bool   // pressured, for Enabled's lock-free read
	pressureWake chan struct{} // a back-pressure change to deliver
	pressureQuit chan struct{}
	pressureDone chan struct{}

	stop    chan struct{}   // closed by Shutdown
	stopCtx context.Context // Shutdown's context, published by closing stop
}

// New returns a Processor that exports through exporter and starts its
// worker goroutine. Register it with sdklog.WithProcessor and call
// Shutdown (directly, or through the LoggerProvider) when done.
//
// When exporter is a fan-out (exporter.Fanout or exporter.NewFanout), each
// of its members becomes a destination of its own, as with
// NewWithDestinations: one member that fails, hangs or falls behind never
// delays, duplicates or drops records for the others.
//
// New fails when exporter is nil or an option has an invalid value. An
// invalid environment variable is not an error: it is reported to the
// error handler and the default is used.
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
// cannot hold the others hostage: when the store must evict, the records
// it evicts are the oldest ones, which only the laggard still needs, and
// they count as the laggard's drops; the others are untouched. A healthy
// destination never receives a record twice because another failed.
//
// NewWithDestinations fails when dests is empty, when a destination's
// exporter is nil, when two destinations have the same name, or when an
// option or a Destination field has an invalid value.
func NewWithDestinations(dests []Destination, opts ...Option) (*Processor, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if !cfg.classifySet {
		cfg.classify = exporter.ClassifyOTLP
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
// Each eviction counts as queue_full when the count bound forced it, else
// as b's byte reason (byte_limit, or heap_pressure) or byte_limit for the
// shared budget — once in the store-wide accounting, and once for each
// destination that had not finished the record. It returns false when
// severity-aware eviction picks the incoming record itself, or when
// nothing queued is left to evict. p.mu must be held.
func (p *Processor) makeRoomLocked(size int64, sev log.Severity, incoming bool, b bounds) bool {
	extra := 0
	if incoming {
		extra = 1
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
			return true
		}
		if p.st.queued() == 0 {
			// The batches in flight hold the rest of the budget and
			// nothing queued is left to evict: the newcomer waits for
			// nothing and is dropped.
			if incoming {
				p.acct.dropped[reason]++
				return false
			}
			return true
		}
		var seq uint64
		var esize int64
		evicted := false
		if p.cfg.severityEviction {
			seq, esize, evicted = p.st.evict(true, p.cfg.evictBelow)
			if !evicted && incoming && sev < p.cfg.evictBelow {
				p.acct.dropped[reason]++
				return false
			}
		}
		if !evicted {
			seq, esize, evicted = p.st.evict(false, 0)
		}
		if !evicted {
			return !incoming // unreachable: queued() > 0 means an evictable record
		}
		p.acct.dropped[reason]++
		for _, d := range p.dests {
			d.droppedLocked(seq, esize, reason)
		}
		p.releaseLocked()
	}
}

// enforceBoundsLocked evicts until the store is within its bounds. p.mu
// must be held.
func (p *Processor) enforceBoundsLocked() {
	p.makeRoomLocked(0, 0, false, bounds{maxBytes: p.cfg.maxQueueBytes, byteReason: idxByteLimit})
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
	s := Stats{
		Received:      p.received,
		Exported:      p.acct.exported,
		Queued:        p.st.queued(),
		QueuedBytes:   p.st.heldBytes - p.st.pinnedBytes,
		InFlight:      p.st.pinned,
		InFlightBytes: p.st.pinnedBytes,
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
		quiet, cancel := context.WithTimeout(ctx, alertStopLimit)
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
