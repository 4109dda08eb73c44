package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
)

// counts is a drop source the test changes between checks.
type counts struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (c *counts) add(reason string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]uint64{}
	}
	c.m[reason] += n
}

func (c *counts) set(m map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = m
}

// source returns the live map: the alerter must copy it.
func (c *counts) source() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// manualTicker ticks when the test sends on c. c is unbuffered: a send
// returns once the alerter took the tick, and the next send once it has
// handled the previous one.
type manualTicker struct {
	c       chan time.Time
	stopped chan struct{}
}

func newManualTicker() *manualTicker {
	return &manualTicker{c: make(chan time.Time), stopped: make(chan struct{})}
}
func (m *manualTicker) C() <-chan time.Time { return m.c }
func (m *manualTicker) Stop()               { close(m.stopped) }

// lineHandler sends each record's message on a channel.
type lineHandler struct{ lines chan string }

func (h lineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h lineHandler) Handle(_ context.Context, r slog.Record) error {
	h.lines <- r.Level.String() + " " + r.Message
	return nil
}
func (h lineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h lineHandler) WithGroup(string) slog.Handler      { return h }

var testRuns atomic.Int64

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestAlerterOneLinePerIntervalWithDrops(t *testing.T) {
	var c counts
	lines := make(chan string, 10)
	tk := newManualTicker()
	var gotInterval time.Duration
	a, err := NewDropAlerter(c.source,
		WithAlertLogger(slog.New(lineHandler{lines})),
		WithAlertInterval(5*time.Second),
		withClock(TickerClock{NewTickerFunc: func(d time.Duration) clock.Ticker { gotInterval = d; return tk }, NowFunc: func() time.Time { return t0 }}))
	require.NoError(t, err)
	a.Start()
	a.Start() // a second Start does nothing
	assert.Equal(t, 5*time.Second, gotInterval)

	c.add("queue_full", 7)
	c.add("byte_limit", 9)
	c.add("shutdown", 7)
	tk.c <- t0.Add(5 * time.Second)
	assert.Equal(t, "WARN dropped 23 records in the last 5s: byte_limit=9, queue_full=7, shutdown=7", <-lines,
		"largest first, ties by name")

	tk.c <- t0.Add(10 * time.Second) // nothing new
	c.add("queue_full", 1)
	tk.c <- t0.Add(15 * time.Second)
	tk.c <- t0.Add(20 * time.Second) // handled only after the previous tick
	assert.Equal(t, "WARN dropped 1 records in the last 5s: queue_full=1", <-lines)
	_ = a.Shutdown(context.Background()) // waits for the tick at 20s to be handled
	<-tk.stopped
	assert.Empty(t, lines, "at most one line per interval, and Shutdown had nothing left to say")
	_ = a.Shutdown(context.Background()) // only the first Shutdown does anything
	a.Start()                            // nor does Start after Shutdown
	assert.Empty(t, lines)
}

func TestAlerterStopReportsTheRest(t *testing.T) {
	var c counts
	lines := make(chan string, 10)
	now := t0
	a, err := NewDropAlerter(c.source, WithAlertLogger(slog.New(lineHandler{lines})),
		withClock(TickerClock{NewTickerFunc: func(time.Duration) clock.Ticker { return newManualTicker() }, NowFunc: func() time.Time { return now }}))
	require.NoError(t, err)
	c.add("export_failed", 2)
	now = t0.Add(3 * time.Second)
	_ = a.Shutdown(context.Background()) // never started: no goroutine to stop, the summary is still written
	assert.Equal(t, "WARN dropped 2 records in the last 3s: export_failed=2", <-lines)
}

func TestAlerterSourceResetStartsAgain(t *testing.T) {
	var c counts
	var buf bytes.Buffer
	a, err := NewDropAlerter(c.source, WithAlertLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	require.NoError(t, err)
	c.add("queue_full", 10)
	require.True(t, a.Report())
	c.set(map[string]uint64{"queue_full": 3})
	require.True(t, a.Report(), "a count lower than before is a new source: its value is new drops")
	assert.Contains(t, buf.String(), "dropped 3 records")
	assert.False(t, a.Report())
	_ = a.Shutdown(context.Background())
}

func TestAlerterDefaultsWriteTextToStderr(t *testing.T) {
	a, err := NewDropAlerter(func() map[string]uint64 { return nil })
	require.NoError(t, err)
	assert.Equal(t, DefaultAlertInterval, a.interval)
	_, isText := a.logger.Handler().(*slog.TextHandler)
	assert.True(t, isText)
	assert.False(t, a.Report(), "no drops, no line")
	_ = a.Shutdown(context.Background())
}

func TestAlerterRejectsBadInput(t *testing.T) {
	_, err := NewDropAlerter(nil)
	require.ErrorIs(t, err, ErrNilSource)

	src := func() map[string]uint64 { return nil }
	for name, opt := range map[string]AlertOption{
		"nil logger":    WithAlertLogger(nil),
		"zero interval": WithAlertInterval(0),
		"negative":      WithAlertInterval(-time.Second),
		"nil clock":     withClock(nil),
		"empty noun":    WithAlertNoun(""),
		"nil option":    nil,
	} {
		t.Run(name, func(t *testing.T) {
			a, err := NewDropAlerter(src, opt)
			require.ErrorIs(t, err, ErrInvalidOption)
			assert.Nil(t, a)
			assert.True(t, strings.HasPrefix(err.Error(), ErrInvalidOption.Error()+": "), err.Error())
		})
	}
}

func TestComponentNameCountsPerType(t *testing.T) {
	// Fresh types on every run: the counters are process-wide, and -count
	// runs the test again in the same process.
	run := testRuns.Add(1)
	typ, other := fmt.Sprintf("test_concurrent_%d", run), fmt.Sprintf("other_type_%d", run)
	var wg sync.WaitGroup
	names := make(chan string, 50)
	for range 50 {
		wg.Go(func() { names <- ComponentName(typ) })
	}
	wg.Wait()
	close(names)
	seen := map[string]bool{}
	for n := range names {
		require.False(t, seen[n], "duplicate name %s", n)
		seen[n] = true
	}
	assert.True(t, seen[typ+"/0"] && seen[typ+"/49"])
	assert.Equal(t, other+"/0", ComponentName(other), "each type counts on its own")
}
