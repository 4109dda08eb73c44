package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/setting"
)

// DefaultAlertLogger returns the logger alerts go to by default: a
// log/slog text handler on os.Stderr, which depends on nothing a failing
// pipeline does.
func DefaultAlertLogger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// DefaultAlertInterval is the default interval of a DropAlerter: at most
// one summary line per 10 seconds.
const DefaultAlertInterval = 10 * time.Second

// ErrNilSource is returned by NewDropAlerter when the source is nil.
var ErrNilSource = errors.New("steadylog/telemetry: drop alert source is nil")

// ErrAlertPanic is wrapped by the error of Shutdown when the source or the
// logger given to a DropAlerter panicked while writing the last summary.
// The panic itself was recovered.
var ErrAlertPanic = errors.New("steadylog/telemetry: drop alerter: panic in caller's code")

// AlertOption configures a DropAlerter.
type AlertOption interface {
	applyAlert(*alertConfig)
}

type alertConfig struct {
	lineConfig
	noun setting.Value[string]
}

type alertOptionFunc func(*alertConfig)

func (f alertOptionFunc) applyAlert(c *alertConfig) { f(c) }

// WithAlertLogger sets the logger the summaries are written to, at level
// Warn. It must not feed the pipeline whose drops it reports: a pipeline
// that is dropping records would drop its own alerts too, or make the
// trouble worse.
//
// The logger is called with the alerter's internal lock held, from Start's
// goroutine, Report and the final summary of Shutdown; a panic in
// its handler is recovered, and a handler that blocks holds up only those
// (Shutdown gives up when its context ends). It must not call back into
// the DropAlerter.
//
// Default: a log/slog text handler on os.Stderr, which depends on nothing
// but the process's standard error. nil makes NewDropAlerter fail.
func WithAlertLogger(l *slog.Logger) AlertOption {
	return alertOptionFunc(func(c *alertConfig) { c.setLogger("WithAlertLogger", l) })
}

// WithAlertInterval sets how often the source is checked, which is also
// the shortest time between two summaries.
//
// Default: DefaultAlertInterval (10s). A value ≤ 0 makes NewDropAlerter
// fail. There is no upper limit: math.MaxInt64 means, in practice, no
// periodic summary, only those of Report and of Shutdown.
func WithAlertInterval(d time.Duration) AlertOption {
	return alertOptionFunc(func(c *alertConfig) { c.setInterval("WithAlertInterval", d) })
}

// WithAlertAttrs adds attributes to every summary, such as the
// otel.component.name of the component whose drops it reports. The
// arguments are those of slog.Logger.Warn: slog.Attr values or key-value
// pairs.
//
// Default: none.
func WithAlertAttrs(args ...any) AlertOption {
	return alertOptionFunc(func(c *alertConfig) { c.attrs = append(c.attrs, args...) })
}

// WithAlertNoun sets the plural noun of the summary's message ("dropped 3
// log records in the last 10s").
//
// Default: "records". An empty noun makes NewDropAlerter fail.
func WithAlertNoun(noun string) AlertOption {
	return alertOptionFunc(func(c *alertConfig) {
		if noun == "" {
			c.errs.Reject("WithAlertNoun(\"\"): must not be empty")
			return
		}
		c.noun = setting.Of(noun)
	})
}

// maxListedReasons bounds the reasons a summary names: the source is user
// code and may report any number of them, and one summary line must stay
// one line. The others are counted in the total and named as "+N more".
const maxListedReasons = 16

// DropAlerter writes a rate-limited summary of dropped items to a local
// logger: at most one line per interval, and only for an interval in which
// something was dropped. It reads cumulative drop counts by reason from a
// source function and reports the increase since its previous summary.
//
// It knows nothing of where the counts come from; the processor package
// feeds it from Processor.Stats. Start runs the check on its own goroutine,
// so the code that counts drops never waits for the logger.
//
// The source and the logger's handler are the caller's code. A panic in
// either is recovered: the alerter keeps working, and the drops of a
// summary that could not be written stay pending, to be reported by the
// next one. A logger that blocks delays only the alerter's own goroutine
// and Report; Shutdown returns when its context ends.
//
// The methods are safe for concurrent use.
type DropAlerter struct {
	lines  // the logger, interval, clock, panics and final summary
	source func() map[string]uint64
	noun   string

	mu     sync.Mutex // serialises reports and guards the fields below
	last   map[string]uint64
	lastAt time.Time

	life    sync.Mutex // guards started and stopped
	started bool
	stopped bool
	done    chan struct{} // closed when Start's goroutine has ended; only if started
	// startErr is set by Start, before it closes done, when the ticker
	// could not be made.
	startErr error
}

// NewDropAlerter returns a DropAlerter reading cumulative drop counts by
// reason from source. source is called from the alerter's goroutine, from
// Report and from the final summary of Shutdown; it must be safe for
// concurrent use and should return quickly. Counts are reported relative
// to zero, so the first summary includes everything dropped before Start.
//
// NewDropAlerter fails when source is nil (ErrNilSource), or an option is
// nil or has an invalid value (an error wrapping ErrInvalidOption for
// each).
func NewDropAlerter(source func() map[string]uint64, opts ...AlertOption) (*DropAlerter, error) {
	if source == nil {
		return nil, ErrNilSource
	}
	c := alertConfig{lineConfig: newLineConfig()}
	setting.Apply(c.errs, opts, func(o AlertOption) { applyOption(&c.lineConfig, o, func(o AlertOption) { o.applyAlert(&c) }) })
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	a := &DropAlerter{
		lines:  newLines(&c.lineConfig, ErrAlertPanic),
		source: source,
		noun:   c.noun.Resolve("records"),
		done:   make(chan struct{}),
	}
	if err := a.guard("clock", func() { a.lastAt = a.clock.Now() }); err != nil {
		return nil, fmt.Errorf("%w: withClock: %w", ErrInvalidOption, err)
	}
	return a, nil
}

// Start starts the goroutine that checks the source once per interval and
// writes a summary when the counts grew. Call Shutdown to end it. Calls
// after the first, or after Shutdown, do nothing.
func (a *DropAlerter) Start() {
	a.life.Lock()
	if a.started || a.stopped {
		a.life.Unlock()
		return
	}
	a.started = true
	a.life.Unlock()
	// The ticker is the caller's code: it is made outside the lock, so that
	// a Shutdown concurrent with a slow or stuck one is not held up by it.
	t, c, err := a.startTicker()
	if err != nil {
		a.startErr = err
		close(a.done)
		return
	}
	go a.run(t, c)
}

func (a *DropAlerter) run(t clock.Ticker, c <-chan time.Time) {
	defer close(a.done)
	defer a.stopTicker(t)
	for {
		select {
		case now := <-c:
			// Recovered inside: a panicking logger or source costs one
			// summary, not the goroutine.
			_, _ = a.report(now, true)
		case <-a.quit:
			return
		}
	}
}

// Shutdown ends the goroutine started by Start and then writes a last
// summary of the drops not reported yet, so a program that exits right
// after a burst of drops still says so.
//
// It returns nil once that summary is written (or there was nothing to
// report), and an error wrapping ErrAlertPanic if the source or the
// logger panicked so that it was not. It returns ctx.Err() as soon as
// ctx is done, even while the logger is stuck (a full stderr pipe, say):
// the work goes on in the background, and the last summary is written,
// once and after any summary the goroutine was writing, when the logger
// unblocks; the alerter's goroutines end then. A ctx that has already
// ended therefore does not wait for the summary at all: a program about to
// exit should leave it a short grace instead (the processor package gives
// it processor.FinalSummaryGrace past its own context).
//
// Only the first call of Shutdown does anything; later calls
// return nil at once, without waiting for the first to finish. A nil ctx
// is taken as context.Background().
func (a *DropAlerter) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	a.life.Lock()
	if a.stopped {
		a.life.Unlock()
		return nil
	}
	a.stopped = true
	started := a.started
	close(a.quit)
	a.life.Unlock()

	return a.awaitFinal(ctx, func() error {
		if started {
			<-a.done
		}
		_, err := a.report(time.Time{}, false)
		return errors.Join(a.startErr, err)
	})
}

// Report checks the source now and writes one summary of the drops since
// the previous summary, if there were any. It reports whether it wrote
// one: false also when the source, the clock or the logger panicked (the
// panic is recovered, and the drops stay pending for the next summary).
// The goroutine of Start calls it once per interval; calling it directly
// is useful to report on demand. It waits for the logger, and works after
// Shutdown too.
func (a *DropAlerter) Report() bool {
	wrote, _ := a.report(time.Time{}, false)
	return wrote
}

// report is Report at the time of a tick, when hasTick is set: the
// goroutine of Start passes it, so a summary covers exactly the ticks'
// interval. Otherwise it reads the clock. A panic in the caller's code
// (source, clock, logger) is returned as an error, and the state is left
// as it was, so the drops are reported by the next summary.
func (a *DropAlerter) report(tick time.Time, hasTick bool) (wrote bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := tick
	if !hasTick {
		if err := a.guard("clock", func() { now = a.clock.Now() }); err != nil {
			return false, err
		}
	}
	var cur map[string]uint64
	if err := a.guard("source", func() { cur = maps.Clone(a.source()) }); err != nil { // the source may reuse its map
		return false, err
	}
	type reason struct {
		name string
		n    uint64
	}
	var (
		total   uint64
		reasons []reason
	)
	for name, n := range cur {
		prev := a.last[name]
		if n < prev { // the source was reset: start again from its new value
			prev = 0
		}
		if d := n - prev; d > 0 {
			total = addSat(total, d)
			reasons = append(reasons, reason{name, d})
		}
	}
	if total == 0 {
		a.last, a.lastAt = cur, now
		return false, nil
	}
	// Largest first: the main cause leads the line.
	slices.SortFunc(reasons, func(x, y reason) int {
		if c := cmp.Compare(y.n, x.n); c != 0 {
			return c
		}
		return strings.Compare(x.name, y.name)
	})
	var b strings.Builder
	// A clock that goes backwards (only a caller's can) is not a negative
	// span of time.
	span := max(now.Sub(a.lastAt), 0).Round(time.Millisecond)
	fmt.Fprintf(&b, "dropped %d %s in the last %s:", total, a.noun, span)
	for i, r := range reasons[:min(len(reasons), maxListedReasons)] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" " + r.name + "=" + strconv.FormatUint(r.n, 10))
	}
	if more := len(reasons) - maxListedReasons; more > 0 {
		b.WriteString(", +" + strconv.Itoa(more) + " more")
	}
	msg, args := b.String(), append([]any{slog.Uint64("dropped", total)}, a.attrs...)
	if err := a.guard("logger", func() { a.logger.Warn(msg, args...) }); err != nil {
		return false, err
	}
	a.last, a.lastAt = cur, now
	return true, nil
}

// addSat is x+y, or math.MaxUint64 where that overflows: a source may
// report any counts, and a total must not wrap to a small number.
func addSat(x, y uint64) uint64 {
	if s := x + y; s >= x {
		return s
	}
	return math.MaxUint64
}
