package telemetry

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAlertInterval is the default interval of a DropAlerter: at most
// one summary line per 10 seconds.
const DefaultAlertInterval = 10 * time.Second

// ErrInvalidAlertOption is wrapped by the error NewDropAlerter returns for
// an option given an invalid value.
var ErrInvalidAlertOption = errors.New("steadylog/telemetry: invalid drop alert option")

// ErrNilSource is returned by NewDropAlerter when the source is nil.
var ErrNilSource = errors.New("steadylog/telemetry: drop alert source is nil")

// AlertOption configures a DropAlerter.
type AlertOption interface {
	apply(*alertConfig)
}

type alertConfig struct {
	logger    *slog.Logger
	interval  time.Duration
	newTicker func(time.Duration) Ticker
	now       func() time.Time
	noun      string
	attrs     []any
	invalid   []error
}

type alertOptionFunc func(*alertConfig)

func (f alertOptionFunc) apply(c *alertConfig) { f(c) }

func (c *alertConfig) reject(format string, args ...any) {
	c.invalid = append(c.invalid, fmt.Errorf("%w: "+format, append([]any{ErrInvalidAlertOption}, args...)...))
}

// WithAlertLogger sets the logger the summaries are written to, at level
// Warn. It must not feed the pipeline whose drops it reports: a pipeline
// that is dropping records would drop its own alerts too, or make the
// trouble worse.
//
// Default: a log/slog text handler on os.Stderr, which depends on nothing
// but the process's standard error. nil makes NewDropAlerter fail.
func WithAlertLogger(l *slog.Logger) AlertOption {
	return alertOptionFunc(func(c *alertConfig) {
		if l == nil {
			c.reject("WithAlertLogger(nil): logger must not be nil")
			return
		}
		c.logger = l
	})
}

// WithAlertInterval sets how often the source is checked, which is also
// the shortest time between two summaries.
//
// Default: DefaultAlertInterval (10s). A value ≤ 0 makes NewDropAlerter
// fail.
func WithAlertInterval(d time.Duration) AlertOption {
	return alertOptionFunc(func(c *alertConfig) {
		if d <= 0 {
			c.reject("WithAlertInterval(%v): must be positive", d)
			return
		}
		c.interval = d
	})
}

// WithAlertTicker sets the function that makes the ticker driving Start's
// goroutine, and the clock that measures the time a summary covers. Tests
// use it to tick by hand.
//
// Default: NewTicker and time.Now. A nil function makes NewDropAlerter
// fail.
func WithAlertTicker(newTicker func(time.Duration) Ticker, now func() time.Time) AlertOption {
	return alertOptionFunc(func(c *alertConfig) {
		if newTicker == nil || now == nil {
			c.reject("WithAlertTicker: ticker and clock must not be nil")
			return
		}
		c.newTicker, c.now = newTicker, now
	})
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
			c.reject("WithAlertNoun(\"\"): noun must not be empty")
			return
		}
		c.noun = noun
	})
}

// DropAlerter writes a rate-limited summary of dropped items to a local
// logger: at most one line per interval, and only for an interval in which
// something was dropped. It reads cumulative drop counts by reason from a
// source function and reports the increase since its previous summary.
//
// It knows nothing of where the counts come from; the processor package
// feeds it from Processor.Stats. Start runs the check on its own goroutine,
// so the code that counts drops never waits for the logger.
//
// The methods are safe for concurrent use.
type DropAlerter struct {
	source    func() map[string]uint64
	logger    *slog.Logger
	interval  time.Duration
	newTicker func(time.Duration) Ticker
	now       func() time.Time
	noun      string
	attrs     []any

	mu     sync.Mutex // serialises reports and guards the fields below
	last   map[string]uint64
	lastAt time.Time

	life    sync.Mutex // guards started, stopped and the channels
	started bool
	stopped bool
	quit    chan struct{}
	done    chan struct{}
}

// NewDropAlerter returns a DropAlerter reading cumulative drop counts by
// reason from source. source is called from the alerter's goroutine and
// from Stop; it must be safe for concurrent use and should return quickly.
// Counts are reported relative to zero, so the first summary includes
// everything dropped before Start.
//
// NewDropAlerter fails when source is nil or an option has an invalid
// value.
func NewDropAlerter(source func() map[string]uint64, opts ...AlertOption) (*DropAlerter, error) {
	if source == nil {
		return nil, ErrNilSource
	}
	c := alertConfig{interval: DefaultAlertInterval, newTicker: NewTicker, now: time.Now, noun: "records"}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if len(c.invalid) > 0 {
		return nil, errors.Join(c.invalid...)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return &DropAlerter{
		source:    source,
		logger:    c.logger,
		interval:  c.interval,
		newTicker: c.newTicker,
		now:       c.now,
		noun:      c.noun,
		attrs:     c.attrs,
		lastAt:    c.now(),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}, nil
}

// Interval returns the interval between two checks.
func (a *DropAlerter) Interval() time.Duration { return a.interval }

// Start starts the goroutine that checks the source once per interval and
// writes a summary when the counts grew. Call Stop to end it. Calls after
// the first, or after Stop, do nothing.
func (a *DropAlerter) Start() {
	a.life.Lock()
	defer a.life.Unlock()
	if a.started || a.stopped {
		return
	}
	a.started = true
	t := a.newTicker(a.interval)
	go a.run(t)
}

func (a *DropAlerter) run(t Ticker) {
	defer close(a.done)
	defer t.Stop()
	for {
		select {
		case now := <-t.C():
			a.report(now)
		case <-a.quit:
			return
		}
	}
}

// Stop ends the goroutine started by Start, waits for it, and then reports
// the drops not reported yet, so a program that exits right after a burst
// of drops still says so. Only the first call does anything.
func (a *DropAlerter) Stop() {
	a.life.Lock()
	if a.stopped {
		a.life.Unlock()
		return
	}
	a.stopped = true
	started := a.started
	close(a.quit)
	a.life.Unlock()
	if started {
		<-a.done
	}
	a.Report()
}

// Report checks the source now and writes one summary of the drops since
// the previous summary, if there were any. It reports whether it wrote
// one. The goroutine of Start calls it once per interval; calling it
// directly is useful to report on demand.
func (a *DropAlerter) Report() bool { return a.report(a.now()) }

// report is Report at time now: the goroutine of Start passes the time of
// the tick, so a summary covers exactly the ticks' interval.
func (a *DropAlerter) report(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := maps.Clone(a.source()) // the source may reuse its map
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
			total += d
			reasons = append(reasons, reason{name, d})
		}
	}
	if total == 0 {
		a.last, a.lastAt = cur, now
		return false
	}
	// Largest first: the main cause leads the line.
	slices.SortFunc(reasons, func(x, y reason) int {
		if c := cmp.Compare(y.n, x.n); c != 0 {
			return c
		}
		return strings.Compare(x.name, y.name)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "dropped %d %s in the last %s:", total, a.noun, now.Sub(a.lastAt).Round(time.Millisecond))
	for i, r := range reasons {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" " + r.name + "=" + strconv.FormatUint(r.n, 10))
	}
	a.logger.Warn(b.String(), append([]any{slog.Uint64("dropped", total)}, a.attrs...)...)
	a.last, a.lastAt = cur, now
	return true
}
