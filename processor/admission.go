package processor

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/memguard"
)

// Admission is the first stage of a record's path: Enabled and OnEmit
// decide whether it is kept, making room for it in the store when the
// queue is full — by packing, then by evicting what only lagging
// destinations still need, then as its overflow policy says (evict the
// oldest, refuse the newcomer, or wait under Block). It runs on the
// emitting goroutine, under p.mu (released only while waiting under
// Block); a worker uses makeRoomLocked too, through enforceBoundsLocked,
// after each export, for the records that are queued again.

// Enabled reports true: the processor takes every record, and counts the
// ones it cannot keep. (Answering false after Shutdown would hide those
// records from the already_shutdown count.) The exception is WithShedBelow:
// while back-pressure is raised, Enabled reports false for records below
// its threshold, and counts each as shed.
func (p *Processor) Enabled(_ context.Context, param sdklog.EnabledParameters) bool {
	return p.enabled(param)
}

// enabled is Enabled's decision: see WithShedBelow.
func (p *Processor) enabled(param sdklog.EnabledParameters) bool {
	if p.cfg.shedBelow == 0 || param.Severity >= p.cfg.shedBelow || !p.pressureFlag.Load() {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.pressured || p.closed {
		return true // cleared meanwhile, or shut down: OnEmit counts it
	}
	p.shedLocked()
	return false
}

// shedLocked counts one record shed at the source. p.mu must be held.
func (p *Processor) shedLocked() {
	p.received++
	p.acct.dropped[idxShed]++
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
	p.wakePackerLocked()
	if sp := p.spoolOn(); sp != nil {
		sp.emittedLocked()
	}
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

// admitLocked applies the overflow policy of a record of size bytes and
// severity sev, which is known to fit the byte budget on its own. It
// reports whether the record may be pushed, having taken its bytes from
// the shared budget if there is one; when it may not, the drop is
// counted. Under Block it may release p.mu while it waits, and holds it
// again when it returns. p.mu must be held.
func (p *Processor) admitLocked(ctx context.Context, size int64, sev log.Severity) bool {
	b := p.boundsLocked(size)
	pol := p.cfg.policyFor(sev)
	ok := p.fitsLocked(size, b)
	if !ok {
		var reason reasonIndex
		ok, reason = p.makeRoomLocked(size, sev, true, b, pol.kind)
		switch {
		case ok:
		case pol.kind == overflowBlock && !p.unblocked:
			ok = p.waitForRoomLocked(ctx, size, sev, pol.timeout)
		case pol.kind == overflowBlock:
			// Shutdown has begun (StopBlocking): nobody waits any more.
			p.acct.dropped[idxAlreadyShutdown]++
		default:
			p.acct.dropped[reason]++
		}
	}
	if ok && !p.acquireLocked(size) {
		// Another processor took the shared budget's last bytes between
		// the check and the reservation.
		p.acct.dropped[idxByteLimit]++
		ok = false
	}
	return ok
}

// bounds are the byte limit one admission is held to and the reason a
// record that breaks it is dropped.
type bounds struct {
	maxBytes   int64
	byteReason reasonIndex
}

// boundsLocked returns the bounds for admitting a record of size bytes:
// the byte budget, or HeapPressureShare of it while the heap monitor
// reports high pressure — asked only when the record would take the
// processor past that share. p.mu must be held.
func (p *Processor) boundsLocked(size int64) bounds {
	b := bounds{maxBytes: p.cfg.maxQueueBytes, byteReason: idxByteLimit}
	if p.cfg.heap == nil || p.st.heldBytes+size <= p.heapBound {
		p.heapShedding = false
		return b
	}
	p.heapShedding = p.cfg.heap.High()
	if p.heapShedding {
		b = bounds{maxBytes: p.heapBound, byteReason: idxHeapPressure}
	}
	return b
}

// fitsLocked reports whether one more record of size bytes fits bounds b
// and the shared budget without evicting anything. p.mu must be held.
func (p *Processor) fitsLocked(size int64, b bounds) bool {
	return p.st.queued() < p.cfg.maxQueueSize && p.st.heldBytes+size <= b.maxBytes && p.sharedFitsLocked(size)
}

// sharedFitsLocked reports whether size more bytes fit the shared budget.
func (p *Processor) sharedFitsLocked(size int64) bool {
	return p.cfg.budget == nil || p.cfg.budget.Limit()-p.cfg.budget.Used() >= size
}

// acquireLocked takes size bytes from the shared budget, if any.
func (p *Processor) acquireLocked(size int64) bool {
	if p.cfg.budget == nil {
		return true
	}
	if !p.cfg.budget.TryAcquire(size) {
		return false
	}
	p.acquired += size
	return true
}

// overflowReasonLocked is the reason a record of size bytes that does not
// fit b is dropped: the count bound first, then the byte bound. p.mu must
// be held.
func (p *Processor) overflowReasonLocked(size int64, b bounds) reasonIndex {
	switch {
	case p.st.queued() >= p.cfg.maxQueueSize:
		return idxQueueFull
	case p.st.heldBytes+size > b.maxBytes:
		return b.byteReason
	}
	return idxByteLimit
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
	// Spilling to the spool and packing free bytes without losing a
	// record: they come first, spilling (which costs nothing: the records
	// are on disk already) before packing.
	p.spillForRoomLocked(size, extra, b, incoming)
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
		if sp := p.spoolOn(); sp != nil {
			sp.evictedLocked(ev.seq)
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

// Overflow policies.

// OverflowPolicy says what OnEmit does with a record when admitting it
// would break the queue's count or byte bound. It is a value: compare and
// copy it freely. The zero value is DropOldest().
//
//   - DropOldest() (the default) evicts the oldest queued records until the
//     newcomer fits: fresh logs are worth more than a stale backlog. This is
//     what the SDK's BatchProcessor does, and with WithSeverityEviction it
//     evicts low-severity records first.
//   - DropNewest() refuses the newcomer and keeps what is queued: the
//     backlog is kept in order, the newest records are lost.
//   - Block(timeout) makes OnEmit wait for room, up to timeout, for records
//     that must not be lost (audit, billing): the caller is slowed to the
//     exporter's pace. When the timeout passes, the caller's context ends or
//     Shutdown begins, OnEmit stops waiting and the record is dropped
//     (DropBlockTimeout, or DropAlreadyShutdown). Blocking costs nothing
//     while the queue has room. The LoggerProvider's Shutdown waits for
//     OnEmit calls in progress before it shuts the processor down: call
//     WatchProvider, or shut down through the lifecycle package (see
//     StopBlocking), so that a wait ends when the provider shuts down.
//
// With several destinations, records that only lagging destinations still
// need are evicted first under every policy: the policy decides only
// between the newcomer and what the destination furthest ahead still
// needs, so a hung destination cannot make a healthy one refuse or wait.
//
// WithOverflow sets the policy for every record; WithOverflowFrom sets
// another for records at or above a severity, for instance to block for
// WARN and above and discard INFO and below:
//
//	processor.WithOverflow(processor.DropNewest()),
//	processor.WithOverflowFrom(log.SeverityWarn, processor.Block(2*time.Second)),
type OverflowPolicy struct {
	kind    overflowKind
	timeout time.Duration
}

type overflowKind uint8

const (
	overflowDropOldest overflowKind = iota
	overflowDropNewest
	overflowBlock
)

// DropOldest returns the policy that evicts the oldest queued records to
// admit a new one: the default.
func DropOldest() OverflowPolicy { return OverflowPolicy{kind: overflowDropOldest} }

// DropNewest returns the policy that refuses a new record when the queue
// is full.
func DropNewest() OverflowPolicy { return OverflowPolicy{kind: overflowDropNewest} }

// Block returns the policy that makes OnEmit wait up to timeout for room.
// A timeout ≤ 0 is invalid: WithOverflow and WithOverflowFrom then make
// New fail. There is no "block forever": a stuck exporter must not be able
// to stop the program.
func Block(timeout time.Duration) OverflowPolicy {
	return OverflowPolicy{kind: overflowBlock, timeout: timeout}
}

// String returns "drop_oldest", "drop_newest" or "block(TIMEOUT)".
func (o OverflowPolicy) String() string {
	switch o.kind {
	case overflowDropNewest:
		return "drop_newest"
	case overflowBlock:
		return fmt.Sprintf("block(%v)", o.timeout)
	}
	return "drop_oldest"
}

func (o OverflowPolicy) valid() bool {
	switch o.kind {
	case overflowDropOldest, overflowDropNewest:
		return true
	case overflowBlock:
		return o.timeout > 0
	}
	return false
}

// policyFor is the overflow policy of a record of severity sev.
func (c *config) policyFor(sev log.Severity) OverflowPolicy {
	if c.overflowSplit && sev >= c.overflowFrom {
		return c.overflowHigh
	}
	return c.overflow
}

// The Block wait: an OnEmit that waits for room, and what ends the wait.

// waitForRoomLocked waits, for at most timeout, until a record of size
// bytes fits. It stops early when ctx ends or Shutdown begins. A record the
// worker emits itself is not made to wait (see emittedByWorker): it is
// refused at once, as under DropNewest. It reports whether the record may
// be pushed and counts the drop when it may not. p.mu must be held; it is
// released while waiting.
func (p *Processor) waitForRoomLocked(ctx context.Context, size int64, sev log.Severity, timeout time.Duration) bool {
	if p.emittedByWorker(ctx) {
		p.acct.dropped[p.overflowReasonLocked(size, p.boundsLocked(size))]++
		return false
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var poll <-chan time.Time
	if p.cfg.budget != nil {
		// Bytes another processor gives back to the shared budget wake
		// nobody here: look again every sharedBudgetPoll.
		t := time.NewTicker(sharedBudgetPoll)
		defer t.Stop()
		poll = t.C
	}
	lp := p.provider.Load()
	var watch <-chan time.Time
	if lp != nil {
		// The provider's Shutdown waits for this call before it shuts the
		// processor down, and tells nobody: look whether it has begun.
		t := time.NewTicker(providerPoll)
		defer t.Stop()
		watch = t.C
	}
	for {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.waiting++
		p.wakeWorkerLocked()
		p.mu.Unlock()
		gaveUp := false
		stopping := false
		select {
		case <-room:
		case <-poll:
		case <-watch:
			stopping = providerStopped(lp)
		case <-timer.C:
			gaveUp = true
		case <-done:
			gaveUp = true
		case <-p.stop:
		}
		p.mu.Lock()
		p.waiting--
		if stopping {
			p.unblockLocked()
		}
		if p.closed || p.unblocked {
			p.acct.dropped[idxAlreadyShutdown]++
			return false
		}
		b := p.boundsLocked(size)
		if p.fitsLocked(size, b) {
			return true
		}
		if ok, _ := p.makeRoomLocked(size, sev, true, b, overflowBlock); ok {
			return true
		}
		if gaveUp {
			p.acct.dropped[idxBlockTimeout]++
			return false
		}
	}
}

// sharedBudgetPoll is how often an OnEmit blocked by the shared budget
// looks again (see waitForRoomLocked).
const sharedBudgetPoll = 5 * time.Millisecond

// workerKey marks the contexts of the worker's calls into the exporter.
// A record emitted with such a context (an exporter that logs through the
// provider it exports for, with the context it was given) is never made to
// wait for room: only the worker makes room, and it is waiting on that
// very call.
type workerKey struct{}

// emittedByWorker reports whether OnEmit runs on behalf of the worker: on
// its goroutine (an exporter or error handler logging synchronously, as
// WithErrorHandler(otel.Handle) does under otelslog: otel.Handle → log →
// slog → otelslog) or with a context of one of its calls (a goroutine an exporter
// started and waits for). Go has no thread identity to ask, as log4j2
// asks whether the caller is its background thread; the goroutine ID from
// the runtime's stack header is the equivalent, read only on the blocking
// path, never on the fast one.
func (p *Processor) emittedByWorker(ctx context.Context) bool {
	if ctx != nil && ctx.Value(workerKey{}) == p {
		return true
	}
	id := goroutineID()
	for _, d := range p.dests {
		if d.workerID.Load() == id {
			return true
		}
	}
	return false
}

// goroutineID returns the ID of the calling goroutine, parsed from the
// first line of its stack trace ("goroutine 123 [running]:"), or 0.
func goroutineID() uint64 {
	var buf [64]byte
	b, ok := strings.CutPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	if !ok {
		return 0
	}
	var id uint64
	for i := 0; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		id = id*10 + uint64(b[i]-'0')
	}
	return id
}

// providerPoll is how often an OnEmit waiting under Block looks whether
// the LoggerProvider given to WatchProvider has begun its Shutdown.
const providerPoll = 10 * time.Millisecond

// providerProbe names the Logger WatchProvider asks the provider for.
const providerProbe = "github.com/steadylog/steadylog/processor"

// providerStopped reports whether lp's Shutdown has begun: from then on
// the provider hands out no-op loggers. Asking creates, once, a Logger
// that never emits.
func providerStopped(lp *sdklog.LoggerProvider) bool {
	_, stopped := lp.Logger(providerProbe).(noop.Logger)
	return stopped
}

// StopBlocking ends every wait for room under the Block overflow policy,
// and makes records that find the queue full from now on be dropped at
// once instead of waiting; the records of both count as already_shutdown.
// Admission otherwise goes on until Shutdown.
//
// It exists because sdklog.LoggerProvider.Shutdown waits for every OnEmit
// in progress to return before it calls the processor's Shutdown, and
// returns its context's error without shutting the processor down when
// they take too long: an OnEmit waiting for room would hold the provider's
// Shutdown until its deadline, and the processor would never drain its
// queue or shut its exporters down. The lifecycle package calls
// StopBlocking (lifecycle.Blocker) before it shuts any component down;
// WatchProvider makes the processor notice a provider's Shutdown by
// itself. It is safe to call at any time, more than once, and returns at
// once.
func (p *Processor) StopBlocking() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unblockLocked()
}

func (p *Processor) unblockLocked() {
	p.unblocked = true
	p.roomFreedLocked()
}

// WatchProvider tells the processor the LoggerProvider it is registered
// with, so that OnEmit calls waiting for room under Block stop waiting
// when that provider's Shutdown begins (see StopBlocking), and the
// provider's Shutdown goes on to shut the processor down:
//
//	p, _ := processor.New(exp, processor.WithOverflow(processor.Block(time.Minute)))
//	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
//	p.WatchProvider(lp)
//
// An OnEmit that waits notices within about 10 ms; nothing is watched
// while nobody waits, so it costs nothing otherwise. Only processors with
// a Block policy need it; a nil lp stops watching.
func (p *Processor) WatchProvider(lp *sdklog.LoggerProvider) {
	p.provider.Store(lp)
	if lp == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roomFreedLocked() // a call waiting already starts watching
}

// roomFreedLocked wakes the OnEmit calls waiting for room, after records
// left the queue or the batch in flight. p.mu must be held.
func (p *Processor) roomFreedLocked() {
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
}

// wakeWorkerLocked makes sure a wake-up is on its way to every
// destination's worker that has records to export. p.mu must be held.
func (p *Processor) wakeWorkerLocked() {
	for _, d := range p.dests {
		if d.pending > 0 {
			d.wakeLocked()
		}
	}
}
