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
	clk := clock.NewFake(t0)
	a, err := NewDropAlerter(c.source,
		WithAlertLogger(slog.New(lineHandler{lines})),
		WithAlertInterval(5*time.Second),
		withClock(clk))
	require.NoError(t, err)
	a.Start()
	a.Start() // a second Start does nothing
	assert.Equal(t, []time.Duration{5 * time.Second}, clk.Periods(), "one ticker, of the interval")

	c.add("queue_full", 7)
	c.add("byte_limit", 9)
	c.add("shutdown", 7)
	clk.AdvanceAndWait(5 * time.Second)
	assert.Equal(t, "WARN dropped 23 records in the last 5s: byte_limit=9, queue_full=7, shutdown=7", <-lines,
		"largest first, ties by name")

	// Every tick moves the clock by the interval: whichever of the ticks
	// at 10s and 15s counts the drop added while the first is handled, its
	// line covers 5s.
	clk.AdvanceAndWait(5 * time.Second) // nothing new
	c.add("queue_full", 1)
	clk.AdvanceAndWait(5 * time.Second)
	clk.AdvanceAndWait(5 * time.Second) // taken only after the previous tick was handled
	assert.Equal(t, "WARN dropped 1 records in the last 5s: queue_full=1", <-lines)
	_ = a.Shutdown(context.Background()) // waits for the tick at 20s to be handled
	assert.Empty(t, clk.Periods(), "Shutdown stopped the ticker")
	assert.Empty(t, lines, "at most one line per interval, and Shutdown had nothing left to say")
	_ = a.Shutdown(context.Background()) // only the first Shutdown does anything
	a.Start()                            // nor does Start after Shutdown
	assert.Empty(t, lines)
	assert.Equal(t, 1, clk.TickersMade(), "Start after Shutdown made no ticker")
}

func TestAlerterStopReportsTheRest(t *testing.T) {
	var c counts
	lines := make(chan string, 10)
	clk := clock.NewFake(t0)
	a, err := NewDropAlerter(c.source, WithAlertLogger(slog.New(lineHandler{lines})), withClock(clk))
	require.NoError(t, err)
	c.add("export_failed", 2)
	clk.Advance(3 * time.Second)
	_ = a.Shutdown(context.Background()) // never started: no goroutine to stop, the summary is still written
	assert.Equal(t, "WARN dropped 2 records in the last 3s: export_failed=2", <-lines)
	assert.Zero(t, clk.TickersMade(), "never started: no ticker")
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
