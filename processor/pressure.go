package processor

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/telemetry"
)

// Back-pressure is what the processor reports before it is full: the
// state raised at the high watermark and cleared below the low one after
// the hold (WithBackPressure, WithBackPressureHold), delivered by the
// pressure goroutine (pressureLoop) to WithBackPressureFunc and the alert
// logger, and read by Enabled to shed at the source (WithShedBelow). The
// admission stage (admission.go) applies the bounds; this file keeps the
// state those bounds feed, and gives the shared budget (WithBudget) back
// as records leave.

// Back-pressure defaults.
const (
	// DefaultHighWatermark is the fill, of the count or the byte bound,
	// at which back-pressure is raised.
	DefaultHighWatermark = 0.8
	// DefaultLowWatermark is the fill below which, for both bounds,
	// back-pressure is cleared again, once the queue has stayed there for
	// the hold time (DefaultBackPressureHold). The gap keeps a queue that
	// hovers at the high mark from flapping.
	DefaultLowWatermark = 0.6
	// HeapPressureShare is the share of the byte budget the processor
	// keeps while the heap monitor reports high pressure.
	HeapPressureShare = 0.25
)

// DefaultBackPressureHold is how long the queue must stay below the low
// watermark, without a break, before back-pressure is cleared: a queue
// that drains in bursts and refills within it stays in one episode.
const DefaultBackPressureHold = time.Second

var defaultHeap = sync.OnceValue(func() *memguard.HeapMonitor {
	m, err := memguard.NewHeapMonitor()
	if err != nil { // cannot happen with the defaults
		return nil
	}
	return m
})

// BackPressure is a change of the processor's back-pressure state, as
// passed to the WithBackPressureFunc callback.
type BackPressure struct {
	// Raised is true when the high watermark was crossed, false when the
	// queue had stayed below the low one for the hold time
	// (WithBackPressureHold), or Shutdown found it below the low one.
	Raised bool
	// Queued and QueuedBytes are the queue's content when the change was
	// delivered; InFlightBytes the batch in flight.
	Queued        int
	QueuedBytes   int64
	InFlightBytes int64
	// Changes counts the state changes so far, delivered or not: rapid
	// changes are coalesced, the callback sees the latest state. An
	// episode is two changes, however often the queue crosses the
	// watermarks within it.
	Changes uint64
}

// releaseLocked gives back to the shared budget what the processor no
// longer holds: the bytes acquired minus those queued and in flight. Every
// path on which records leave calls it, after its accounting; it also
// updates the back-pressure state. p.mu must be held.
func (p *Processor) releaseLocked() {
	if p.cfg.budget != nil {
		if held := p.st.heldBytes; p.acquired > held {
			p.cfg.budget.Release(p.acquired - held)
			p.acquired = held
		}
	}
	if p.pressured && int64(p.st.queued()) < p.lowLen && p.st.heldBytes < p.lowBytes {
		p.belowLowLocked()
	}
}

// calmState is the end of a back-pressure episode: the queue is below the
// low watermark, and pressureLoop times the hold. p.mu guards it.
type calmState struct {
	below bool   // the queue has been below low since the hold started
	seq   uint64 // counts the holds started, so that a stale timer is ignored
}

// belowLowLocked is called while back-pressure is raised and the queue is
// below the low watermark: it clears back-pressure at once when there is
// no hold or Shutdown has begun (no record comes in any more), and
// otherwise starts the hold, unless it runs already, for pressureLoop to
// time. No clock is read here. p.mu must be held.
func (p *Processor) belowLowLocked() {
	switch {
	case p.cfg.pressureHold == 0 || p.closed:
		p.setPressureLocked(false)
	case !p.calm.below:
		p.calm.below = true
		p.calm.seq++
		p.wakePressureLocked()
	}
}

// pushedLocked updates the back-pressure state after a push: raised at
// once at the high watermark; while raised, a queue back at the low
// watermark breaks the hold. It reads no clock. p.mu must be held.
func (p *Processor) pushedLocked() {
	if p.pressured {
		if p.calm.below && (int64(p.st.queued()) >= p.lowLen || p.st.heldBytes >= p.lowBytes) {
			p.calm.below = false // the next fall below low starts a new hold
		}
		return
	}
	if int64(p.st.queued()) >= p.highLen || p.st.heldBytes >= p.highBytes {
		p.setPressureLocked(true)
	}
}

func (p *Processor) setPressureLocked(raised bool) {
	p.pressured = raised
	p.pressureFlag.Store(raised)
	p.pressureChanges++
	p.calm.below = false
	p.wakePressureLocked()
}

// wakePressureLocked tells pressureLoop to look at the state again.
func (p *Processor) wakePressureLocked() {
	select {
	case p.pressureWake <- struct{}{}:
	default: // a delivery is pending already; it will read the latest state
	}
}

// watermarks converts the fractions into counts and bytes, rounding up so
// that a mark of 0.8 on a queue of 10 is reached at 8 records.
func watermark(bound int64, fraction float64) int64 {
	v := math.Ceil(float64(bound) * fraction)
	if v >= float64(math.MaxInt64) {
		return math.MaxInt64
	}
	return max(int64(v), 1)
}

// newHoldTimer is the default config.holdTimer: a time.Timer.
func newHoldTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// pressureLoop delivers back-pressure changes to the callback and the
// alert logger, from its own goroutine, and times the hold before
// back-pressure is cleared (WithBackPressureHold), until quit is closed.
// When quit is closed, it ends the episode: the queue no longer fills,
// so a hold running then is cut short, and the cleared change is delivered
// before it returns.
func (p *Processor) pressureLoop(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var delivered bool      // the state last delivered; the initial state is "cleared"
	var logger *slog.Logger // nil: no lines
	if !p.cfg.tel.noAlerts {
		logger = cmp.Or(p.cfg.tel.alertLogger, telemetry.DefaultAlertLogger())
	}
	// Raised lines are rate-limited like the drop summaries, at most one
	// per alert interval, so a queue that keeps bursting past the mark does
	// not flood standard error; a cleared line follows only a raised line
	// that was written. The callback sees every delivered change.
	interval := p.cfg.tel.alertInterval
	if interval <= 0 {
		interval = telemetry.DefaultAlertInterval
	}
	var lastRaisedLine time.Time
	raisedLogged := false
	// The hold: a timer for the hold numbered holdSeq, while one runs.
	var (
		holdC   <-chan time.Time
		stopT   func()
		holdSeq uint64
	)
	stopHold := func() {
		if stopT != nil {
			stopT()
		}
		holdC, stopT = nil, nil
	}
	defer stopHold()
	for {
		final := false
		select {
		case <-quit:
			final = true
		case <-p.pressureWake:
		case <-holdC:
			holdC, stopT = nil, nil
			p.mu.Lock()
			if p.pressured && p.calm.below && p.calm.seq == holdSeq {
				p.setPressureLocked(false) // below low for the whole hold
			}
			p.mu.Unlock()
		}
		p.mu.Lock()
		if final && p.pressured && p.calm.below {
			p.setPressureLocked(false) // Shutdown has begun: the episode is over
		}
		ev := BackPressure{
			Raised: p.pressured, Queued: p.st.queued(), QueuedBytes: p.st.heldBytes - p.st.pinnedBytes,
			InFlightBytes: p.st.pinnedBytes, Changes: p.pressureChanges,
		}
		below, seq := p.calm.below, p.calm.seq
		p.mu.Unlock()
		switch {
		case final:
		case ev.Raised && below:
			if holdC == nil || seq != holdSeq { // a new hold: the queue went back up in between
				stopHold()
				holdC, stopT = p.cfg.holdTimer(p.cfg.pressureHold)
				holdSeq = seq
			}
		case holdC != nil:
			stopHold() // cleared, or back above low (a stale timer is ignored anyway)
		}
		if ev.Raised == delivered || (final && ev.Raised) {
			// Nothing new: raised and cleared again (or the reverse)
			// before delivery. At Shutdown, only the end of an episode is
			// delivered.
			if final {
				return
			}
			continue
		}
		delivered = ev.Raised
		if logger != nil {
			switch now := time.Now(); {
			case ev.Raised && (lastRaisedLine.IsZero() || now.Sub(lastRaisedLine) >= interval):
				lastRaisedLine, raisedLogged = now, true
				p.logPressure(logger, ev)
			case !ev.Raised && raisedLogged:
				raisedLogged = false
				p.logPressure(logger, ev)
			}
		}
		if p.cfg.onPressure != nil {
			func() {
				defer func() { _ = recover() }()
				p.cfg.onPressure(ev)
			}()
		}
		if final {
			return
		}
	}
}

func (p *Processor) logPressure(logger *slog.Logger, ev BackPressure) {
	defer func() { _ = recover() }()
	msg := fmt.Sprintf("log queue back-pressure cleared: %d records queued", ev.Queued)
	if ev.Raised {
		msg = fmt.Sprintf("log queue back-pressure raised: %d of %d records, %s of %s queued and in flight",
			ev.Queued, p.cfg.maxQueueSize, formatSize(ev.QueuedBytes+ev.InFlightBytes), formatSize(p.cfg.maxQueueBytes))
	}
	logger.LogAttrs(context.Background(), slog.LevelWarn, msg,
		slog.Bool("backpressure", ev.Raised), slog.String("otel.component.name", p.tel.name))
}

// stopPressure ends the back-pressure goroutine, waiting for it no longer
// than ctx allows: it may be stuck in the alert logger or the callback,
// which are user code.
func (p *Processor) stopPressure(ctx context.Context) {
	close(p.pressureQuit)
	select {
	case <-p.pressureDone:
	case <-ctx.Done():
	}
}
