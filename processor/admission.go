package processor

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// OverflowPolicy says what OnEmit does with a record when admitting it
// would break the queue's count or byte bound. It is a value: compare and
// copy it freely. The zero value is DropOldest().
//
//   - DropOldest() (the default) evicts the oldest queued records until the
//     newcomer fits: fresh logs are worth more than a stale backlog. This is
//     what the SDK's BatchProcessor does, and with WithSeverityEviction it
//     evicts low-severity records first.
//   - DropNewest() refuses the newcomer and keeps what is queued, as Vector's
//     when_full: drop_newest does: the backlog is kept in order, the newest
//     records are lost.
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
// another for records at or above a severity — log4j2's async appender
// blocks for WARN and above and discards INFO and below:
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

// DefaultBlockTimeout is the timeout of the block policy when it is chosen
// through the environment (EnvOnQueueFull=block) without
// EnvBlockTimeout.
const DefaultBlockTimeout = 5 * time.Second

// Environment variables of the overflow policy. They are steadylog's own
// until the OpenTelemetry specification settles: PR #5181 proposes
// OTEL_BLRP_ON_QUEUE_FULL=DROP|BLOCK and
// OTEL_BLRP_BLOCK_ON_QUEUE_FULL_TIMEOUT (milliseconds), which map to
// these with DROP as drop_oldest (what the Go SDK does when full).
const (
	// EnvOnQueueFull is drop_oldest (or drop), drop_newest or block,
	// in any case.
	EnvOnQueueFull = "STEADYLOG_BLRP_ON_QUEUE_FULL"
	// EnvBlockTimeout is the block policy's timeout, in whole
	// milliseconds.
	EnvBlockTimeout = "STEADYLOG_BLRP_BLOCK_ON_QUEUE_FULL_TIMEOUT"
)

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

// fitsLocked reports whether one more record of size bytes fits bounds b
// and the shared budget without evicting anything. p.mu must be held.
func (p *Processor) fitsLocked(size int64, b bounds) bool {
	return p.st.queued() < p.cfg.maxQueueSize && p.st.heldBytes+size <= b.maxBytes && p.sharedFitsLocked(size)
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
