package processor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/exporter"
)

// Processor is an sdklog.Processor that queues records in memory, bounded
// by count and by bytes, and exports them in batches to one or more
// destinations. See the package documentation for the full contract.
//
// All methods are safe for concurrent use.
//
// Goroutines. A record's path crosses these, and each owns what it alone
// touches (DESIGN.md, Concurrency):
//   - the emitting goroutines: Enabled and OnEmit admit records under mu
//     (admission.go); under Block, OnEmit waits for room with mu released;
//   - one worker per destination (destination.run), started by New: the
//     only goroutine that calls that destination's exporter, so its calls
//     never overlap; it owns the destination's fields marked "worker",
//     takes mu to pin a batch and to account for its outcome, and calls the
//     exporter without it;
//   - the packer (packLoop, pack.go), started by New: woken once the store
//     holds half its byte bound, it encodes the oldest full chunks without
//     mu, marking each as packing under mu so that nothing clears or
//     recycles its records meanwhile, and gives a chunk its encoding under
//     mu;
//   - the spooler (spooler.run, spool.go), started by New with WithSpool:
//     the only goroutine that appends to the spool and syncs it. Woken by
//     OnEmit without blocking, it marks the unwritten records of one chunk
//     as being written under mu, so that nothing evicts, packs or clears
//     them, encodes and appends them without mu, and advances the spool's
//     position under mu. Destination workers read the spool with cursors
//     of their own;
//   - the pressure goroutine (pressureLoop), started by New: it delivers
//     back-pressure changes to WithBackPressureFunc and the alert logger and
//     times the hold, taking mu only to read the state;
//   - the drop alerter's goroutine (telemetry.DropAlerter, unless
//     WithoutDropAlerts), started by New: it reads Stats once per interval;
//   - the default error handler's goroutine (telemetry.ErrorReporter,
//     unless WithErrorHandler), started at the first error and ended an
//     interval or two after the last.
//
// Shutdown stops the packer (at most one chunk's encoding: it runs no user
// code) and the spooler (after it wrote and synced what memory holds),
// closes stop, waits for the workers within its context, closes the
// spool, then stops the pressure goroutine, the error handler and the
// drop alerter.
type Processor struct {
	cfg   config         // read-only after New
	tel   telemetryState // see telemetry.go
	dests []*destination // fixed at New

	// mu guards everything below it, the store and the fields of each
	// destination marked "p.mu". It is one mutex on purpose: admitting one
	// record updates the store and every destination's count, and Stats
	// is a consistent snapshot because every accounting transition — a
	// record received, evicted, pinned for export, exported or dropped —
	// happens under it. It is held for bookkeeping only, never across a
	// call into an exporter, the back-pressure callback or a logger.
	mu                  sync.Mutex
	st                  *store
	acct                accounts // store-wide: exported, and dropped by reason
	received            uint64
	packedRecords       uint64 // records packed (pack.go)
	packAwake           bool   // the packer was woken and has not found its work done yet
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
	pressureWake chan struct{} // a back-pressure change for the pressure goroutine
	packWake     chan struct{} // wakes the packer goroutine (pack.go)
	packQuit     chan struct{} // closed by Shutdown: the packer ends
	packDone     chan struct{} // closed by the packer when it ends
	pressureQuit chan struct{} // closed by Shutdown: the pressure goroutine ends
	pressureDone chan struct{} // closed by the pressure goroutine when it ends

	provider atomic.Pointer[sdklog.LoggerProvider] // see WatchProvider

	// The durable spool (WithSpool, spool.go); nil without one. Its
	// fields marked "p.mu" are guarded by mu.
	sp       *spooler
	startSeq uint64 // the store's first sequence number: after the spool's records

	stop    chan struct{}   // closed by Shutdown: the workers drain and end
	stopCtx context.Context // Shutdown's context, published by closing stop
}

// New returns a Processor that exports through exporter and starts its
// goroutines (see Processor). Register it with sdklog.WithProcessor and call
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
// each of dests, and starts its goroutines: one worker per destination,
// and those listed on Processor.
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
	p.packWake = make(chan struct{}, 1)
	p.packQuit, p.packDone = make(chan struct{}), make(chan struct{})
	p.pressureQuit, p.pressureDone = make(chan struct{}), make(chan struct{})
	if cfg.spool != nil {
		if p.sp, err = openSpool(p, *cfg.spool); err != nil {
			return nil, err
		}
		if p.sp.startReport != nil {
			cfg.warn(p.sp.startReport)
		}
	}
	if err := p.tel.start(p); err != nil {
		p.sp.closeUnstarted()
		return nil, err
	}
	go p.pressureLoop(p.pressureQuit, p.pressureDone)
	go p.packLoop()
	if p.sp != nil {
		go p.sp.run() // also while the spool is not open: it tries again
	}
	for _, d := range ds {
		go d.run()
	}
	return p, nil
}

// ForceFlush exports every record queued before the call, to every
// destination, then calls the exporters' ForceFlush. It returns early with
// ctx's error when ctx ends first, and with an error wrapping
// ErrExporterHung when a destination's exporter call overruns its
// deadline by OverrunGrace (the other destinations flush meanwhile); the
// records not exported stay queued and are exported later. With a spool
// and the default retry budget, a destination whose outage outlasts the
// budget (or had outlasted it before the call) makes one attempt, then
// ForceFlush returns an error wrapping ErrQueuedInSpool: its records stay
// queued in the spool, and are retried. After Shutdown it returns nil at
// once: there is nothing left to flush.
func (p *Processor) ForceFlush(ctx context.Context) error {
	p.mu.Lock()
	closed := p.closed
	seq, stored := p.st.lastSeq()
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
		case d.flushReq <- flushRequest{ctx: ctx, seq: seq, stored: stored, result: result}:
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
// With a spool, what a destination has not delivered when Shutdown gives
// up on it stays in the spool for the next start instead of being
// dropped (Stats.Spool.LeftForNextStart). With the default retry budget
// that includes a dead backend: once the outage's budget is spent — by
// the time Shutdown is called, or while it waits — the destination makes
// one attempt and leaves the rest on disk, and Shutdown returns an error
// wrapping ErrQueuedInSpool.
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
	p.stopPacker()
	if sp := p.sp; sp != nil {
		// What memory holds goes to the spool before the workers drain:
		// what they cannot deliver then stays there. A local write, not
		// bounded by ctx. A spooler still trying to open the spool
		// stops trying.
		close(sp.quit)
		<-sp.done
	}
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
		if sp := p.spoolOn(); sp != nil {
			sp.close()
		}
		return ctx.Err()
	}
	if sp := p.spoolOn(); sp != nil {
		sp.close()
	}
	return errors.Join(errs...)
}
