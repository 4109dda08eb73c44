package processor

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// These tests drive the back-pressure hold (WithBackPressureHold) through
// the public API, with an exporter that exports one record per step of
// the test and, where the hold must be timed, hold timers fired by hand.
// They synchronise on channels; holdGuard only turns a hang into a
// failure.

const holdGuard = 10 * time.Second

// stepExporter blocks each Export call until the test lets it go with
// step, or for good with free.
type stepExporter struct {
	entered chan struct{} // one per Export call, before it blocks
	proceed chan struct{}
	free    chan struct{} // closed: Export no longer blocks
}

func newStepExporter() *stepExporter {
	return &stepExporter{entered: make(chan struct{}, 1000), proceed: make(chan struct{}), free: make(chan struct{})}
}

func (e *stepExporter) Export(context.Context, []sdklog.Record) error {
	e.entered <- struct{}{}
	select {
	case <-e.proceed:
	case <-e.free:
	}
	return nil
}
func (e *stepExporter) ForceFlush(context.Context) error { return nil }
func (e *stepExporter) Shutdown(context.Context) error   { return nil }

// fakeHold is a hold timer of the processor's, fired by the test.
type fakeHold struct {
	d       time.Duration
	c       chan time.Time // unbuffered: a send returns once the processor took it
	stopped atomic.Bool
}

// fakeHolds makes fakeHold timers and hands each to the test on armed.
type fakeHolds struct{ armed chan *fakeHold }

func (f fakeHolds) option() Option {
	return optionFunc(func(c *config) {
		c.holdTimer = func(d time.Duration) (<-chan time.Time, func()) {
			h := &fakeHold{d: d, c: make(chan time.Time)}
			f.armed <- h
			return h.c, func() { h.stopped.Store(true) }
		}
	})
}

func (f fakeHolds) next(t *testing.T) *fakeHold {
	t.Helper()
	select {
	case h := <-f.armed:
		return h
	case <-time.After(holdGuard):
		t.Fatal("no hold timer was armed")
		return nil
	}
}

func (h *fakeHold) fire(t *testing.T) {
	t.Helper()
	select {
	case h.c <- time.Now():
	case <-time.After(holdGuard):
		t.Fatal("the processor did not take the hold timer's tick")
	}
}

// holdRig is a processor with a queue of 10 (back-pressure raised at 8
// queued, below low under 6), batch size 1, a step exporter, and the
// back-pressure callback and lines on channels.
type holdRig struct {
	p      *Processor
	exp    *stepExporter
	events chan BackPressure
	lines  pressureLines
	n      int
}

func newHoldRig(t *testing.T, opts ...Option) *holdRig {
	t.Helper()
	r := &holdRig{exp: newStepExporter(), events: make(chan BackPressure, 100), lines: pressureLines{c: make(chan string, 100)}}
	r.p = newProcessor(t, r.exp, append([]Option{
		WithMaxQueueSize(10), WithExportMaxBatchSize(1), WithExportInterval(time.Hour),
		WithBackPressureFunc(func(bp BackPressure) { r.events <- bp }),
		WithDropAlerts(slog.New(r.lines), time.Hour),
	}, opts...)...)
	r.emit(t, 1)
	<-r.exp.entered // one record in flight, the exporter waits for a step
	return r
}

func (r *holdRig) emit(t *testing.T, n int) {
	t.Helper()
	for range n {
		emit(t, r.p, fmt.Sprint(r.n), log.SeverityInfo)
		r.n++
	}
}

// step lets one export return; the worker then takes the next record.
func (r *holdRig) step(t *testing.T) {
	t.Helper()
	require.NotZero(t, r.p.Stats().Queued, "a step needs a next record")
	r.exp.proceed <- struct{}{}
	select {
	case <-r.exp.entered:
	case <-time.After(holdGuard):
		t.Fatal("the worker did not take the next record")
	}
}

// fill emits until 8 records are queued: the high watermark.
func (r *holdRig) fill(t *testing.T) {
	t.Helper()
	r.emit(t, 8-r.p.Stats().Queued)
	require.Equal(t, 8, r.p.Stats().Queued)
}

// drainBelowLow steps until a record has left the processor while fewer
// than 6 were queued: below the low watermark.
func (r *holdRig) drainBelowLow(t *testing.T) {
	t.Helper()
	for r.p.Stats().Queued >= 6 {
		r.step(t)
	}
	r.step(t)
}

func (r *holdRig) event(t *testing.T) BackPressure {
	t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(holdGuard):
		t.Fatal("no back-pressure change was delivered")
		return BackPressure{}
	}
}

func (r *holdRig) line(t *testing.T) string {
	t.Helper()
	select {
	case l := <-r.lines.c:
		return l
	case <-time.After(holdGuard):
		t.Fatal("no back-pressure line was written")
		return ""
	}
}

// TestBackPressureHoldMakesOneEpisode is the flapping of a busy service:
// the queue fills past the high watermark and drains below the low one
// three times in a row. Within the hold, that is one episode — one raised
// change and line, raised at once — and it is cleared only when the queue
// has stayed below low for a whole hold, timed from its last fall below.
func TestBackPressureHoldMakesOneEpisode(t *testing.T) {
	holds := fakeHolds{armed: make(chan *fakeHold, 10)}
	r := newHoldRig(t, holds.option())

	r.fill(t)
	s := r.p.Stats()
	require.True(t, s.BackPressure, "raised at once, by the OnEmit that reached the mark")
	require.Equal(t, uint64(1), s.BackPressureChanges)
	ev := r.event(t)
	require.True(t, ev.Raised)
	require.Equal(t, uint64(1), ev.Changes)
	require.Contains(t, r.line(t), "back-pressure raised: 8 of 10 records")

	r.drainBelowLow(t)
	first := holds.next(t)
	assert.Equal(t, DefaultBackPressureHold, first.d, "the default hold")

	r.fill(t) // back past low, and past high: the same episode
	first.fire(t)
	// The first hold was broken: its timer changes nothing. (The next
	// timer is armed by the same goroutine, after it handled this one.)
	r.drainBelowLow(t)
	second := holds.next(t)
	s = r.p.Stats()
	require.True(t, s.BackPressure, "the hold was broken by the refill")
	require.Equal(t, uint64(1), s.BackPressureChanges)

	r.fill(t)
	r.drainBelowLow(t)
	third := holds.next(t)
	assert.True(t, second.stopped.Load(), "a broken hold's timer is stopped when the next hold starts")
	assert.False(t, third.stopped.Load())
	s = r.p.Stats()
	require.True(t, s.BackPressure)
	require.Equal(t, uint64(1), s.BackPressureChanges, "three crossings, one episode")
	require.True(t, r.p.enabled(sdklog.EnabledParameters{Severity: log.SeverityInfo}), "no WithShedBelow here")
	require.Empty(t, r.events, "no change delivered within the hold")
	require.Empty(t, r.lines.c, "no line within the hold")

	for r.p.Stats().Queued > 0 {
		r.step(t) // the queue stays low
	}
	third.fire(t) // the hold is over
	ev = r.event(t)
	require.False(t, ev.Raised)
	require.Equal(t, uint64(2), ev.Changes)
	require.Contains(t, r.line(t), "back-pressure cleared")
	s = r.p.Stats()
	require.False(t, s.BackPressure)
	require.Equal(t, uint64(2), s.BackPressureChanges, "one raised, one cleared")
	require.Zero(t, s.TotalDropped(), "all of it before anything was dropped")
	requireInvariant(t, s)

	close(r.exp.free)
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Empty(t, r.events, "nothing more at Shutdown")
	assert.Empty(t, r.lines.c)
	assert.Empty(t, holds.armed)
	s = r.p.Stats()
	requireInvariant(t, s)
	assert.Equal(t, uint64(2), s.BackPressureChanges)
	assert.Equal(t, uint64(r.n), s.Exported)
}

// TestBackPressureWithoutHoldFlaps is the same traffic with the hold off
// (WithBackPressureHold(0)): each crossing is an episode, as before the
// hold existed.
func TestBackPressureWithoutHoldFlaps(t *testing.T) {
	holds := fakeHolds{armed: make(chan *fakeHold, 10)}
	r := newHoldRig(t, holds.option(), WithBackPressureHold(0))
	for i := range 3 {
		r.fill(t)
		require.True(t, r.p.Stats().BackPressure)
		r.drainBelowLow(t)
		s := r.p.Stats()
		require.False(t, s.BackPressure, "cleared at once")
		require.Equal(t, uint64(2*(i+1)), s.BackPressureChanges)
	}
	close(r.exp.free)
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Empty(t, holds.armed, "no hold, no timer")
}

// TestBackPressureHoldEndsAtShutdown: Shutdown during a hold ends the
// episode — no record comes in any more — and the cleared change is
// delivered before Shutdown returns.
func TestBackPressureHoldEndsAtShutdown(t *testing.T) {
	holds := fakeHolds{armed: make(chan *fakeHold, 10)}
	r := newHoldRig(t, holds.option(), WithBackPressureHold(time.Hour))
	r.fill(t)
	require.True(t, r.event(t).Raised)
	r.drainBelowLow(t)
	h := holds.next(t)
	assert.Equal(t, time.Hour, h.d)
	require.True(t, r.p.Stats().BackPressure, "the hold runs")

	close(r.exp.free)
	require.NoError(t, r.p.Shutdown(context.Background()))
	ev := <-r.events // delivered before Shutdown returned: no wait
	require.False(t, ev.Raised)
	require.Contains(t, <-r.lines.c, "back-pressure raised")
	require.Contains(t, <-r.lines.c, "back-pressure cleared")
	s := r.p.Stats()
	require.False(t, s.BackPressure)
	require.Equal(t, uint64(2), s.BackPressureChanges)
	requireInvariant(t, s)
	assert.Empty(t, r.events)
}

// TestBackPressureHoldRealTimer uses the real timer: back-pressure is
// cleared no sooner than the hold after the queue fell below low.
func TestBackPressureHoldRealTimer(t *testing.T) {
	const hold = 20 * time.Millisecond
	r := newHoldRig(t, WithBackPressureHold(hold))
	r.fill(t)
	require.True(t, r.event(t).Raised)
	began := time.Now() // before the queue can fall below low
	close(r.exp.free)
	ev := r.event(t)
	require.False(t, ev.Raised)
	assert.GreaterOrEqual(t, time.Since(began), hold)
	require.False(t, r.p.Stats().BackPressure)
	require.NoError(t, r.p.Shutdown(context.Background()))
}

func TestBackPressureHoldOption(t *testing.T) {
	_, err := New(&recordingExporter{}, WithBackPressureHold(-time.Nanosecond))
	require.ErrorIs(t, err, ErrInvalidOption)
	require.ErrorContains(t, err, "WithBackPressureHold(-1ns)")
	for _, d := range []time.Duration{0, time.Nanosecond, time.Hour} {
		p, err := New(&recordingExporter{}, WithBackPressureHold(d))
		require.NoError(t, err, d)
		assert.Equal(t, d, p.cfg.pressureHold)
		require.NoError(t, p.Shutdown(context.Background()))
	}
	p, err := New(&recordingExporter{})
	require.NoError(t, err)
	assert.Equal(t, DefaultBackPressureHold, p.cfg.pressureHold)
	require.NoError(t, p.Shutdown(context.Background()))
}
