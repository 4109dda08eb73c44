package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// lines is the machinery a DropAlerter and an ErrorReporter share: the
// logger their lines go to and the attributes every line carries; the
// interval and the clock their goroutine runs on; the recovery of a panic
// in the caller's code (the logger, the clock, the ticker); and the final
// summary, which Shutdown gives up waiting for when its context ends.
// Each owner keeps what is its own: what a line says, when its goroutine
// runs, and the lock that guards its counts.
type lines struct {
	logger   *slog.Logger
	interval time.Duration
	clock    clock.Clock
	attrs    []any
	// panicked is the owner's sentinel (ErrAlertPanic, ErrReporterPanic),
	// wrapped by the error of every recovered panic.
	panicked error

	quit     chan struct{} // closed by the owner's first Shutdown
	finished chan struct{} // closed when the final summary has been handled
	finalErr error         // the final summary's error; read after finished
}

// newLines returns the machinery configured by c, with the defaults for
// what c leaves unset.
func newLines(c *lineConfig, panicked error) lines {
	return lines{
		logger:   c.logger.Resolve(nil, func() (*slog.Logger, bool) { return DefaultAlertLogger(), true }),
		interval: c.interval.Resolve(DefaultAlertInterval),
		clock:    c.clock.Resolve(clock.Real()),
		attrs:    c.attrs,
		panicked: panicked,
		quit:     make(chan struct{}),
		finished: make(chan struct{}),
	}
}

// guard runs f, turning a panic into an error wrapping the owner's
// sentinel that names what panicked.
func (l *lines) guard(what string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s panicked: %v", l.panicked, what, r)
		}
	}()
	f()
	return nil
}

// startTicker makes the ticker of the owner's goroutine and reads its
// channel, once each. A panic in either, or a nil Ticker, is returned as
// an error, and then there is no ticker to stop.
func (l *lines) startTicker() (clock.Ticker, <-chan time.Time, error) {
	var (
		t clock.Ticker
		c <-chan time.Time
	)
	err := l.guard("ticker", func() {
		if t = l.clock.NewTicker(l.interval); t != nil {
			c = t.C()
		}
	})
	if err == nil && t == nil {
		err = fmt.Errorf("%w: ticker function returned nil", l.panicked)
	}
	if err != nil {
		if t != nil {
			l.stopTicker(t)
		}
		return nil, nil, err
	}
	return t, c, nil
}

// stopTicker stops t, recovering a panic.
func (l *lines) stopTicker(t clock.Ticker) { _ = l.guard("ticker", t.Stop) }

// awaitFinal runs finish, the owner's final summary, on its own goroutine
// and waits for it until ctx is done. The owner calls it once, from its
// first Shutdown. It returns finish's error, or ctx.Err() if ctx ended
// first: finish then goes on in the background, and writes the summary
// when the logger unblocks.
func (l *lines) awaitFinal(ctx context.Context, finish func() error) error {
	go func() {
		defer close(l.finished)
		l.finalErr = finish()
	}()
	select {
	case <-l.finished:
		return l.finalErr
	case <-ctx.Done():
		select {
		case <-l.finished: // both ready: the finished work wins
			return l.finalErr
		default:
			return ctx.Err()
		}
	}
}
