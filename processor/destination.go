package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/internal/classifyctx"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// Destination is one place a Processor delivers every record to. Each
// destination has its own worker goroutine, its own position in the
// processor's store, its own retry state and its own accounting, so one
// that fails, hangs or falls behind cannot delay, duplicate or drop
// records for the others: records are stored once, and released when
// every destination has exported or dropped them. See
// NewWithDestinations.
type Destination struct {
	// Name identifies the destination in Stats, in error reports and in
	// the otel.component.name of its metrics ("<processor>/<name>").
	// Names given here must be unique within a processor:
	// NewWithDestinations fails on a duplicate.
	//
	// Default: the exporter's name when it has a Name() string method (as
	// exporter.Named gives it); else the destination's position: "0", "1",
	// …. A default name never collides with another name: the names given
	// here are taken first, then the exporters' names, in order, then the
	// positions, and a default name that is taken already gets
	// "#<position>" appended ("#<position>#2", "#<position>#3", … if that
	// is taken too).
	//
	// With a spool (WithSpool), the name also keys the destination's
	// position in it across restarts: give destinations names of their
	// own, and keep them. A destination whose name the spool does not
	// know starts at the oldest record it holds.
	Name string
	// Exporter receives the destination's batches. Required: a nil (or
	// typed nil) exporter makes NewWithDestinations fail. It must not be a
	// fan-out (exporter.MustFanout, exporter.NewFanout, or one wrapped in
	// exporter.Named): NewWithDestinations refuses it, because its members
	// would share each batch's fate; give each member a Destination of its
	// own, or pass the fan-out to New, which does. No two destinations may
	// share an exporter, even one wrapped inside another
	// (exporter.CheckDistinct): the two workers would run its Export
	// concurrently.
	Exporter sdklog.Exporter
	// ExportTimeout bounds one Export call of this destination.
	//
	// Default: the processor's (WithExportTimeout). Negative values make
	// NewWithDestinations fail.
	ExportTimeout time.Duration
	// Breaker, when set, guards Exporter with exporter.NewBreaker: while
	// it is open, this destination's batches fail at once without calling
	// the exporter, and its retries wait for the breaker. The breaker
	// counts the exporter's errors as the processor's classifier
	// (WithErrorClassifier) marks them.
	//
	// Default: nil, no breaker.
	Breaker *breaker.Breaker
}

// DestinationStats is the accounting of one destination. Every record the
// processor stored is handed to every destination, so at every moment
//
//	Received == Exported + TotalDropped() + Queued + InFlight
type DestinationStats struct {
	// Name is the destination's name.
	Name string
	// Received counts the records handed to this destination: every record
	// the processor stored (admitted), and the records recovered from the
	// spool that it had not acknowledged (Recovered).
	Received uint64
	// Exported counts records this destination's exporter accepted.
	Exported uint64
	// Dropped counts this destination's drops by reason. A record evicted
	// from the store counts for every destination that had not finished
	// it — the one that fell behind — and for no other. Reasons with no
	// drops are absent.
	Dropped map[DropReason]uint64
	// Queued counts records waiting for this destination, a batch waiting
	// for its retry included.
	Queued int
	// InFlight counts records in this destination's Export call.
	InFlight int
	// Retrying is true while a failed batch waits for its next attempt.
	Retrying bool
	// OutageSpent is true when this destination has used up its retry
	// budget on the current outage (WithRetryMaxElapsed), until an export
	// succeeds. Each batch then gets one attempt, without a backoff wait,
	// and is dropped if it fails — but with a spool and the default
	// budget, a batch the spool holds stays queued (Retrying) and is
	// retried at the backoff's ceiling; ForceFlush and Shutdown make one
	// attempt instead of waiting for it.
	OutageSpent bool
	// Recovered counts the records found in the spool at New that this
	// destination had not acknowledged (WithSpool); they are counted in
	// Received.
	Recovered uint64
	// LeftForNextStart counts, after Shutdown with a spool, the records
	// this destination had not finished, which stay in the spool for the
	// next start; they stay counted in Queued.
	LeftForNextStart uint64
}

// TotalDropped returns the sum of Dropped over all reasons.
func (s DestinationStats) TotalDropped() uint64 { return sumDropped(s.Dropped) }

// destination is the state of one Destination. Fields marked "p.mu" are
// guarded by the processor's mutex; fields marked "worker" are owned by
// the destination's worker goroutine.
type destination struct {
	p             *Processor
	index         int
	name          string
	exp           sdklog.Exporter
	exportTimeout time.Duration
	tel           destTelemetry

	// p.mu
	next         uint64 // every record numbered below next is finished here
	pending      int    // records handed here and not finished: queued + in flight
	pendingBytes int64
	exported     uint64
	dropped      [numReasons]uint64
	wakePending  bool // a wake-up is on its way to the worker
	abandoned    bool // Shutdown gave up on this destination: its pending records were counted as dropped
	retrying     bool
	outageSpent  bool
	// The batch in flight, pinned in the store: slots [bfrom, bto) of bc,
	// bn live records.
	bc         *chunk
	bfrom, bto int
	bn         int
	bbytes     int64
	bend       uint64 // one past the last record of the batch in flight; 0 when none
	bdisk      bool   // the batch in flight was read from the spool (spoolread.go)
	recovered  uint64 // records found in the spool at New that this destination had not acknowledged
	// removedAtNew: records the spool's bounds removed at New that this
	// destination had not acknowledged: received, and dropped.
	removedAtNew uint64
	left         uint64 // records this destination left in the spool at Shutdown

	// worker
	retryAt     time.Time       // no export before this time; zero when none is pending
	attempt     int             // consecutive transient failures, for the backoff
	lastErr     error           // the failure that set retryAt
	outageStart time.Time       // the first failure since the last success; zero when healthy
	probeEarly  bool            // the next attempt may be an early probe of an open breaker
	probed      bool            // the attempt being accounted for was an early probe
	breakerWait bool            // retryAt is an open breaker's: see probeIfLosing
	kept        bool            // the last export failed after the budget was spent, and the spool keeps its batch (keepLocked)
	dropsSeen   uint64          // this destination's drops when the last retry was scheduled
	scratch     []sdklog.Record // a batch gathered around dead slots, or decoded from a packed chunk
	unpackFrom  *chunk          // the packed chunk of the batch to decode; set under p.mu by takeLocked
	unpackIdx   []int32         // and the slots to decode
	gathered    bool            // the batch in flight is in scratch
	disk        diskReader      // reads the spool when the position is below what memory holds

	overrun  overrun       // lets ForceFlush and Shutdown give up on a stuck exporter call
	workerID atomic.Uint64 // the worker's goroutine ID, for Block (see emittedByWorker)
	wake     chan struct{}
	flushReq chan flushRequest
	done     chan struct{} // closed when the worker has finished
	stopErr  error         // the exporter's ForceFlush/Shutdown result, published by closing done
}

type flushRequest struct {
	ctx    context.Context
	seq    uint64 // export every record with a sequence number ≤ seq
	stored bool   // false when nothing was ever stored
	result chan error
}

// resolveDestinations checks dests and fills in their defaults.
func resolveDestinations(dests []Destination, cfg *config) ([]*destination, error) {
	if len(dests) == 0 {
		return nil, fmt.Errorf("%w: no destination", ErrNilExporter)
	}
	exps := make([]sdklog.Exporter, len(dests))
	for i, dd := range dests {
		if isNil(dd.Exporter) {
			if len(dests) == 1 {
				return nil, ErrNilExporter
			}
			return nil, fmt.Errorf("%w: destination %d", ErrNilExporter, i)
		}
		if dd.ExportTimeout < 0 {
			return nil, fmt.Errorf("%w: destination %d: ExportTimeout %v is negative", ErrInvalidOption, i, dd.ExportTimeout)
		}
		if _, fan := exporter.FanoutMembers(dd.Exporter); fan {
			return nil, fmt.Errorf("%w: destination %d: Exporter is a fan-out, whose members would share each batch's fate: give each member a Destination of its own (exporter.FanoutMembers lists them), or pass the fan-out to New", ErrInvalidOption, i)
		}
		exps[i] = dd.Exporter
	}
	// Two workers must never call one exporter: its Export would run
	// concurrently with itself, and its Shutdown twice.
	if err := exporter.CheckDistinct(exps...); err != nil {
		return nil, fmt.Errorf("%w: destinations must not share an exporter: %w", ErrInvalidOption, err)
	}
	names, err := destinationNames(dests)
	if err != nil {
		return nil, err
	}
	out := make([]*destination, len(dests))
	for i, dd := range dests {
		exp := dd.Exporter
		if dd.Breaker != nil {
			exp = exporter.MustBreaker(exp, dd.Breaker)
		}
		timeout := dd.ExportTimeout
		if timeout == 0 {
			timeout = cfg.exportTimeout
		}
		out[i] = &destination{
			index:         i,
			name:          names[i],
			exp:           exp,
			exportTimeout: timeout,
			wake:          make(chan struct{}, 1),
			flushReq:      make(chan flushRequest, 1),
			done:          make(chan struct{}),
		}
	}
	return out, nil
}

// destinationNames returns the destinations' names: their Names, which
// must be unique, and default names for the others, which never collide
// with any other name (see Destination.Name).
func destinationNames(dests []Destination) ([]string, error) {
	names := make([]string, len(dests))
	taken := make(map[string]int, len(dests))
	for i, dd := range dests {
		if dd.Name == "" {
			continue
		}
		if j, dup := taken[dd.Name]; dup {
			return nil, fmt.Errorf("%w: destinations %d and %d are both named %q; give each its own Name", ErrInvalidOption, j, i, dd.Name)
		}
		taken[dd.Name] = i
		names[i] = dd.Name
	}
	// Names the exporters give themselves come before positions, so that
	// a name the user chose (exporter.Named) is kept whenever it can be.
	for _, positional := range []bool{false, true} {
		for i, dd := range dests {
			if names[i] != "" {
				continue
			}
			base := strconv.Itoa(i)
			if !positional {
				n, ok := exporter.NameOf(dd.Exporter)
				if !ok || n == "" {
					continue
				}
				base = n
			}
			name := uniqueName(base, i, taken)
			taken[name] = i
			names[i] = name
		}
	}
	return names, nil
}

// uniqueName returns base if no destination has it, else base#<i>, else
// base#<i>#2, base#<i>#3, …: the first one not taken.
func uniqueName(base string, i int, taken map[string]int) string {
	if _, dup := taken[base]; !dup {
		return base
	}
	name := base + "#" + strconv.Itoa(i)
	for k := 2; ; k++ {
		if _, dup := taken[name]; !dup {
			return name
		}
		name = base + "#" + strconv.Itoa(i) + "#" + strconv.Itoa(k)
	}
}

// label prefixes what is reported about this destination with its name
// when the processor has several.
func (d *destination) label() string {
	if len(d.p.dests) == 1 {
		return ""
	}
	return "destination " + strconv.Quote(d.name) + ": "
}

// statsLocked is the destination's accounting. p.mu must be held.
func (d *destination) statsLocked() DestinationStats {
	s := DestinationStats{
		Name:        d.name,
		Received:    d.p.st.nextSeq - d.p.startSeq + d.recovered + d.removedAtNew, // every record stored was handed to every destination
		Exported:    d.exported,
		Queued:      d.pending - d.bn,
		InFlight:    d.bn,
		Retrying:    d.retrying,
		OutageSpent: d.outageSpent,
		Dropped:     droppedMap(&d.dropped),

		Recovered:        d.recovered,
		LeftForNextStart: d.left,
	}
	return s
}

// wakeLocked makes sure a wake-up is on its way to the worker. p.mu must
// be held.
func (d *destination) wakeLocked() {
	if d.wakePending {
		return
	}
	d.wakePending = true
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// dueLocked reports whether enough is pending here to export now: a full
// batch, or half the byte budget (or of the share kept under heap
// pressure), or an OnEmit waiting for room. The byte trigger matters for
// large records: 64 records of 1 MiB fill a 64 MiB budget long before a
// 512-record batch, and waiting for the interval would evict most of
// them. p.mu must be held.
func (d *destination) dueLocked() bool {
	p := d.p
	return d.pending-d.bn >= p.cfg.maxBatchSize || d.pendingBytes-d.bbytes >= p.cfg.maxQueueBytes/2 ||
		(p.waiting > 0 && d.pending > d.bn) || (p.heapShedding && d.pendingBytes-d.bbytes >= p.heapBound/2)
}

// droppedLocked counts a record of size bytes, numbered seq, that the
// store evicted, as this destination's drop if it had not finished it.
// p.mu must be held.
func (d *destination) droppedLocked(seq uint64, size int64, reason reasonIndex) {
	if d.abandoned || seq < d.next {
		return
	}
	d.dropped[reason]++
	d.pending--
	d.pendingBytes -= size
}

// abandonLocked counts everything pending here as dropped with reason,
// and moves past it. It returns an error when the store and the counters
// disagree (a bug), for the caller to report once p.mu is released. p.mu
// must be held.
func (d *destination) abandonLocked(reason reasonIndex) (mismatch error) {
	if d.abandoned {
		return nil
	}
	p := d.p
	if sp := p.spoolOn(); sp != nil {
		sp.leaveLocked(d)
		return nil
	}
	n := p.st.markLostFrom(d.next, reason)
	if n != d.pending {
		// Count what the counters say, so the destination's identity
		// holds, and say so.
		mismatch = fmt.Errorf("steadylog/processor: %saccounting mismatch at shutdown: %d pending, %d stored", d.label(), d.pending, n)
	}
	d.dropped[reason] += uint64(d.pending)
	d.pending, d.pendingBytes = 0, 0
	d.bn, d.bbytes = 0, 0
	d.next = p.st.nextSeq
	d.retrying = false
	p.releaseStoreLocked()
	return mismatch
}

// run is the worker: the only goroutine that calls this destination's
// Export, so calls never overlap.
func (d *destination) run() {
	defer close(d.done)
	p := d.p
	d.workerID.Store(goroutineID())
	ticker := time.NewTicker(p.cfg.exportInterval)
	defer ticker.Stop()
	clk := p.cfg.retryClock
	background := context.Background()
	for {
		// The retry timer is stopped as soon as the select returns, before
		// the work it chose: what the worker then waits for (a retry
		// within ForceFlush, say) is the only timer on the retry clock.
		var retryC <-chan time.Time
		stopRetry := func() {}
		if !d.retryAt.IsZero() {
			t := clk.NewTimer(clock.Until(clk, d.retryAt))
			retryC, stopRetry = t.C(), func() { t.Stop() }
		}
		select {
		case <-d.wake:
			stopRetry()
			if d.retryAt.IsZero() {
				_ = d.exportWhile(background, false, d.dueLocked)
			} else {
				d.probeIfLosing()
			}
		case <-ticker.C:
			stopRetry()
			if d.retryAt.IsZero() {
				_ = d.exportWhile(background, false, d.upTo(p.lastSeq()))
			} else {
				d.probeIfLosing()
			}
		case <-retryC:
			d.retryAt, d.breakerWait = time.Time{}, false
			_ = d.exportWhile(background, false, d.upTo(p.lastSeq()))
		case req := <-d.flushReq:
			stopRetry()
			var err error
			if req.stored {
				err = d.exportWhile(req.ctx, true, d.upTo(req.seq, true))
			}
			req.result <- errors.Join(err, d.callForceFlush(req.ctx))
		case <-p.stop:
			stopRetry()
			d.drain()
			d.closeDisk()
			return
		}
	}
}

// upTo returns an exportWhile condition that holds while a record with a
// sequence number ≤ seq is pending here.
func (d *destination) upTo(seq uint64, stored bool) func() bool {
	return func() bool {
		if !stored || d.pending == 0 {
			return false
		}
		if sp := d.p.spoolOn(); sp != nil && (d.next < sp.memFrom || d.disk.held) {
			return true // the spool holds older records for it
		}
		first, ok := d.p.st.firstLive(d.next)
		return ok && first <= seq
	}
}

// exportWhile exports batches, oldest first, while more (evaluated under
// p.mu) holds and ctx allows. When a retry is pending it returns at once,
// or, with wait, waits for it within ctx. It returns the errors of batches
// that were dropped, and the reason it stopped early, if any.
func (d *destination) exportWhile(ctx context.Context, wait bool, more func() bool) error {
	p := d.p
	var errs []error
	for {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if !d.retryAt.IsZero() {
			if !wait {
				return errors.Join(errs...)
			}
			if d.kept {
				// The outage outlasted its budget and the spool keeps the
				// batch: ForceFlush and Shutdown do not wait for the next
				// attempt, they make one now (see below).
				d.retryAt, d.breakerWait = time.Time{}, false
			} else if err := d.waitRetry(ctx); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		p.mu.Lock()
		d.wakePending = false
		var batch []sdklog.Record
		took, fromDisk := false, false
		if !d.abandoned && more() {
			if fromDisk = d.diskDueLocked(); !fromDisk {
				batch, took = d.takeLocked()
			}
		}
		p.mu.Unlock()
		if fromDisk {
			if ok, err := d.replayWait(ctx); !ok {
				return errors.Join(append(errs, err)...)
			}
			err := d.readDisk()
			p.mu.Lock()
			if err == nil && !d.abandoned {
				batch, took = d.takeDiskLocked()
			}
			bad := d.disk.bad
			p.mu.Unlock()
			if bad != nil {
				d.disk.bad = nil
				safeHandle(p.cfg.errorHandler, bad)
			}
			if err != nil {
				if !errors.Is(err, segmentlog.ErrClosed) {
					safeHandle(p.cfg.errorHandler, fmt.Errorf("steadylog/processor: %sreading the spool: %w", d.label(), err))
				}
				return errors.Join(append(errs, err)...)
			}
			if !took {
				continue
			}
		} else if !took {
			return errors.Join(errs...)
		}
		if d.unpackFrom != nil {
			var err error
			batch, err = unpack(d.scratch, d.unpackFrom, d.unpackIdx)
			d.scratch, d.unpackFrom, d.gathered = batch, nil, true
			if err != nil {
				safeHandle(p.cfg.errorHandler, err)
			}
		}
		retrying, err := d.export(ctx, batch)
		if err != nil && !retrying {
			errs = append(errs, err)
		}
		if wait && d.kept {
			// The budget bounds how long ForceFlush and Shutdown wait for
			// a dead backend; with a spool, what is left waits on disk.
			return errors.Join(append(errs, fmt.Errorf("%w (the outage outlasted the retry budget): %w", ErrQueuedInSpool, err))...)
		}
	}
}

// takeLocked pins the next batch — up to a batch of slots from the first
// pending record, within one chunk — and returns its records: a slice of
// the store itself, or, when evictions left gaps in it, a copy of the live
// records in the worker's scratch slice. From a packed chunk it returns
// no records but sets unpackFrom and unpackIdx, for the worker to decode
// the batch once the mutex is released. It returns false when nothing is
// pending. p.mu must be held.
func (d *destination) takeLocked() ([]sdklog.Record, bool) {
	p := d.p
	c, from := p.st.locate(d.next)
	if c == nil {
		d.next = p.st.nextSeq
		return nil, false
	}
	d.next = c.base + uint64(from)
	to := min(c.tail, from+p.cfg.maxBatchSize)
	n, bytes, gaps := p.st.pin(c, from, to)
	d.bc, d.bfrom, d.bto, d.bn, d.bbytes = c, from, to, n, bytes
	d.bend = c.base + uint64(to)
	p.roomFreedLocked() // the count bound is the queue's: a batch in flight frees it
	switch {
	case c.packed:
		d.unpackIdx = d.unpackIdx[:0]
		for i := from; i < to; i++ {
			if c.meta[i].state == slotLive {
				d.unpackIdx = append(d.unpackIdx, int32(i))
			}
		}
		d.unpackFrom = c
		return nil, true
	case gaps:
		d.scratch = gather(d.scratch, c, from, to)
		d.gathered = true
		return d.scratch, true
	}
	return c.recs[from:to:to], true
}

// drain runs at Shutdown: it exports what is pending while Shutdown's
// context (and the breaker) allow, counts what is left as dropped by
// shutdown, then shuts the exporter down.
func (d *destination) drain() {
	p := d.p
	ctx := p.stopCtx
	d.disk.draining = true
	err := d.exportWhile(ctx, true, func() bool { return d.pending > 0 })
	p.mu.Lock()
	mismatch := d.abandonLocked(idxShutdown)
	p.mu.Unlock()
	if mismatch != nil {
		safeHandle(p.cfg.errorHandler, mismatch)
	}
	d.stopErr = errors.Join(err, d.callForceFlush(ctx), d.callShutdown(ctx))
}

// export hands one batch to the exporter and accounts for the outcome:
// exported; pending again for a retry (retrying is true); or dropped as
// export_failed. err is the export's error, classified.
func (d *destination) export(parent context.Context, batch []sdklog.Record) (retrying bool, err error) {
	p := d.p
	n := len(batch)
	// The caller's context ending (a ForceFlush or Shutdown that gives up)
	// cancels the export; the export timeout ends it with a deadline. A
	// breaker below can tell the two apart: see exportContext.
	ctx, cancel := p.exportContext(parent, d.exportTimeout)
	d.probed = d.probeEarly
	if d.probeEarly {
		d.probeEarly = false
		ctx = exporter.WithEarlyProbe(ctx)
	}
	// The classifier goes down to a breaker below, which applies it before
	// counting the call; an error no breaker classified is classified here.
	ctx = classifyctx.With(ctx, p.classify)
	started := time.Now()
	err = d.callExport(ctx, batch)
	cancel()
	if !classifyctx.Done(err) {
		err = p.classify(err)
	}
	p.tel.exported(parent, &d.tel, batch, started, err)
	now := p.cfg.retryClock.Now()
	callerEnded := err != nil && parent.Err() != nil
	spent := false
	if err != nil {
		retrying, spent = d.retryable(err, now, callerEnded)
	}
	budgetEnd := d.outageStart.Add(p.cfg.retryMaxElapsed)
	if d.gathered {
		clear(batch) // the copy must not keep records alive
		d.gathered = false
	}

	p.mu.Lock()
	if d.kept = spent && d.keepLocked(); d.kept {
		// The spool holds the batch: it waits there for the backend,
		// retried at the backoff's ceiling or when a breaker admits a
		// probe, but no wait reaches more than one budget ahead.
		retrying, budgetEnd = true, now.Add(p.cfg.retryMaxElapsed)
	}
	if d.bdisk {
		d.diskOutcomeLocked(err, retrying, now)
	} else {
		d.memoryOutcomeLocked(err, retrying, now)
	}
	if d.kept && !d.abandoned {
		d.outageSpent = true
	}
	// Records another destination still needs — or this one, for a retry
	// — are queued again, and the queue's count bound applies to them.
	p.enforceBoundsLocked()
	p.mu.Unlock()

	if err == nil {
		d.attempt, d.lastErr, d.outageStart = 0, nil, time.Time{}
		return false, nil
	}
	if retrying && !callerEnded {
		d.scheduleRetry(err, now, budgetEnd)
	}
	// A refusal by an open breaker is expected and frequent; the failures
	// that opened it were reported already.
	if !errors.Is(err, breaker.ErrOpen) {
		verb := "dropped"
		if retrying {
			verb = "will be retried"
		}
		safeHandle(p.cfg.errorHandler, fmt.Errorf("steadylog/processor: %sexport of %d records failed (%s): %w", d.label(), n, verb, err))
	}
	return retrying, err
}

// memoryOutcomeLocked accounts for the export of a batch pinned in the
// store: exported, dropped (export_failed), or pending again for a retry.
// Records spilled while it was in flight are the spool's: their bytes
// leave the destination's pending bytes now, and a drop counts for them
// store-wide through the spool. p.mu must be held.
func (d *destination) memoryOutcomeLocked(err error, retrying bool, now time.Time) {
	p := d.p
	c, from, to, bytes := d.bc, d.bfrom, d.bto, d.bbytes
	n := d.bn
	d.bc, d.bn, d.bbytes, d.bend = nil, 0, 0, 0
	switch {
	case d.abandoned:
		// Shutdown already counted this batch as dropped, or left it in
		// the spool.
	case err == nil:
		d.exported += uint64(n)
		d.pending -= n
		d.pendingBytes -= bytes
		d.next = c.base + uint64(to)
		d.retrying, d.outageSpent = false, false
	case retrying:
		d.retrying = true
		p.st.spilledIn(c, from, to, func(_ uint64, size int64) { d.pendingBytes -= size })
	default:
		d.dropped[idxExportFailed] += uint64(n)
		d.pending -= n
		d.pendingBytes -= bytes
		p.st.markLost(c, from, to, idxExportFailed)
		if sp := p.spoolOn(); sp != nil {
			p.st.spilledIn(c, from, to, func(seq uint64, _ int64) { sp.loseLocked(seq, idxExportFailed) })
		}
		d.next = c.base + uint64(to)
		d.retrying = false
		d.outageSpent = !d.outageStart.IsZero() && now.Sub(d.outageStart) >= p.cfg.retryMaxElapsed
	}
	p.st.unpin(c, from, to)
	p.releaseStoreLocked()
}

// wrap names the destination in err when the processor has several.
func (d *destination) wrap(err error) error {
	if err == nil || len(d.p.dests) == 1 {
		return err
	}
	return fmt.Errorf("steadylog/processor: destination %q: %w", d.name, err)
}

// abandon counts everything destination d has not exported yet as
// dropped by shutdown.
func (p *Processor) abandon(d *destination) {
	p.mu.Lock()
	mismatch := d.abandonLocked(idxShutdown)
	d.abandoned = true
	p.mu.Unlock()
	if mismatch != nil {
		safeHandle(p.cfg.errorHandler, mismatch)
	}
}
