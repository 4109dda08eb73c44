package processor

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/recordtest"
)

// errOutage is a transient failure: the backend is unavailable.
var errOutage = errors.New("backend unavailable")

// outageExporter fails every call while down, and otherwise keeps a
// description of every record it exports, in order.
type outageExporter struct {
	mu    sync.Mutex
	down  bool
	calls int
	keys  []string
}

func (e *outageExporter) Export(_ context.Context, recs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if e.down {
		return errOutage
	}
	for i := range recs {
		e.keys = append(e.keys, recordKey(&recs[i]))
	}
	return nil
}

func (e *outageExporter) ForceFlush(context.Context) error { return nil }
func (e *outageExporter) Shutdown(context.Context) error   { return nil }

func (e *outageExporter) setDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

func (e *outageExporter) callCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

func (e *outageExporter) exported() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.keys...)
}

// withRetryClock makes the processor's retry schedule read clk.
func withRetryClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) { c.retryClock = clk })
}

// outageWait bounds, in real time, what a test waits for: a hang fails
// the test instead of hanging it.
const outageWait = 30 * time.Second

// waitForRetryTimer waits until the worker waits for its retry on clk.
func waitForRetryTimer(t *testing.T, clk *clock.Fake) {
	t.Helper()
	waiting := make(chan struct{})
	go func() {
		clk.BlockUntil(1)
		close(waiting)
	}()
	select {
	case <-waiting:
	case <-time.After(outageWait):
		t.Fatal("the worker never waited for a retry")
	}
}

// advanceUntil moves clk by step each time the worker waits on it, once
// ready is closed (nil: at once), until call returns, and returns its
// result; it fails the test if call has not returned within outageWait.
// When it returns, the worker is waiting for its next retry: nothing
// calls the exporter until clk moves again.
func advanceUntil(t *testing.T, clk *clock.Fake, step time.Duration, ready <-chan struct{}, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	deadline := time.NewTimer(outageWait)
	defer deadline.Stop()
	if ready != nil {
		select {
		case <-ready:
		case <-deadline.C:
			t.Fatal("never ready to move the clock")
		}
	}
	for {
		waiting := make(chan struct{})
		go func() {
			clk.BlockUntil(1)
			close(waiting)
		}()
		select {
		case err := <-done:
			release := clk.NewTimer(time.Hour) // ends the BlockUntil above
			<-waiting
			release.Stop()
			return err
		case <-waiting:
			// call may have returned, and the worker be waiting for its
			// next retry: moving the clock now would make an attempt
			// after call's.
			select {
			case err := <-done:
				return err
			default:
			}
			clk.Advance(step)
		case <-deadline.C:
			t.Fatalf("no return within %v of real time (%v on the retry clock)", outageWait, clk.Now())
		}
	}
}

// returnsAtOnce runs call, failing the test if it has not returned within
// outageWait though the retry clock does not move.
func returnsAtOnce(t *testing.T, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(outageWait):
		t.Fatal("no return without the retry clock moving")
		return nil
	}
}

// emitSpooled emits n records in bursts, each written to the spool before
// the next: with a small byte budget, memory spills instead of dropping.
func emitSpooled(t *testing.T, p *Processor, n int) []string {
	t.Helper()
	var capture recordtest.Capture
	_, lg := spoolProvider(p, &capture)
	const burst = 25
	for i := 0; i < n; i += burst {
		spoolEmit(lg, i, i+burst)
		require.Eventually(t, func() bool { return p.Stats().Spool.Records == uint64(i+burst) }, outageWait, time.Millisecond)
	}
	recs := capture.Records()
	keys := make([]string, len(recs))
	for i := range recs {
		keys[i] = recordKey(&recs[i])
	}
	return keys
}

// TestSpoolBridgesOutageBeyondRetryBudget: with a spool and the default
// retry budget, a backend down for five times the budget costs nothing:
// the records stay queued — most of them on disk only — the destination
// keeps trying, and once the backend is back it delivers every record, in
// order.
func TestSpoolBridgesOutageBeyondRetryBudget(t *testing.T) {
	const n = 1000
	clk := clock.NewFake(time.Now())
	start := clk.Now()
	var errs errorLog
	exp := &outageExporter{down: true}
	p, err := New(exp, spoolOpts(t.TempDir(), &errs, WithMaxQueueBytes(64<<10), withRetryClock(clk))...)
	require.NoError(t, err)
	want := emitSpooled(t, p, n)
	s := p.Stats()
	require.Less(t, s.QueuedBytes+s.InFlightBytes, int64(n)*500, "the backlog is on disk: %v", s)

	spentSeen := false
	for clk.Since(start) < 5*DefaultRetryMaxElapsed {
		waitForRetryTimer(t, clk)
		calls := exp.callCount()
		clk.Advance(7 * time.Second)
		require.Eventually(t, func() bool { return exp.callCount() > calls }, outageWait, time.Millisecond,
			"the destination keeps trying at %v", clk.Since(start))
		s := p.Stats()
		requireInvariant(t, s)
		require.Zero(t, s.TotalDropped(), "at %v: %v", clk.Since(start), s)
		d := s.Destinations[0]
		require.Equal(t, n, d.Queued+d.InFlight, "%+v", d)
		if clk.Since(start) > DefaultRetryMaxElapsed+10*time.Second && d.InFlight == 0 {
			require.True(t, d.OutageSpent, "at %v: %+v", clk.Since(start), d)
			require.True(t, d.Retrying, "%+v", d)
			spentSeen = true
		}
	}
	require.True(t, spentSeen)

	exp.setDown(false)
	waitForRetryTimer(t, clk)
	clk.Advance(7 * time.Second)
	require.Eventually(t, func() bool { return len(exp.exported()) == n }, outageWait, time.Millisecond)
	require.Equal(t, want, exp.exported(), "every record once, in order")
	require.NoError(t, p.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported)
	require.Zero(t, s.TotalDropped())
	require.False(t, s.Destinations[0].OutageSpent, "a success ends the outage")
}

// TestSpoolOutageForceFlushAndShutdownReturn: against a backend that stays
// down, ForceFlush with a context that never ends returns when the
// outage's budget is spent, saying the records stay queued in the spool;
// once it is spent, ForceFlush and Shutdown make one attempt and return
// without waiting. Shutdown leaves every record on disk, dropping none,
// and the next start delivers them.
func TestSpoolOutageForceFlushAndShutdownReturn(t *testing.T) {
	const n = 200
	dir := filepath.Join(t.TempDir(), "spool")
	clk := clock.NewFake(time.Now())
	start := clk.Now()
	var errs errorLog
	exp := &outageExporter{down: true}
	p, err := New(exp, spoolOpts(dir, &errs, withRetryClock(clk))...)
	require.NoError(t, err)
	want := emitSpooled(t, p, n)
	waitForRetryTimer(t, clk) // the first attempt failed: the outage started at start

	err = advanceUntil(t, clk, time.Second, nil, func() error { return p.ForceFlush(context.Background()) })
	require.ErrorIs(t, err, ErrQueuedInSpool)
	require.ErrorIs(t, err, errOutage)
	waitForRetryTimer(t, clk) // the worker waits: no attempt is under way
	elapsed := clk.Since(start)
	require.GreaterOrEqual(t, elapsed, DefaultRetryMaxElapsed)
	require.Less(t, elapsed, DefaultRetryMaxElapsed+2*time.Second, "ForceFlush waits one budget")
	s := p.Stats()
	requireInvariant(t, s)
	require.Zero(t, s.TotalDropped(), "%v", s)
	require.Equal(t, n, s.Queued, "%v", s)
	require.True(t, s.Destinations[0].OutageSpent)

	calls := exp.callCount()
	err = returnsAtOnce(t, func() error { return p.ForceFlush(context.Background()) })
	require.ErrorIs(t, err, ErrQueuedInSpool)
	require.Equal(t, calls+1, exp.callCount(), "one attempt")

	calls = exp.callCount()
	err = returnsAtOnce(t, func() error { return p.Shutdown(context.Background()) })
	require.ErrorIs(t, err, ErrQueuedInSpool)
	require.Equal(t, calls+1, exp.callCount(), "one attempt")
	s = p.Stats()
	requireInvariant(t, s)
	require.Zero(t, s.TotalDropped(), "%v", s)
	require.Equal(t, uint64(n), s.Spool.LeftForNextStart)
	require.Equal(t, uint64(n), s.Destinations[0].LeftForNextStart)

	healthy := &outageExporter{}
	p, err = New(healthy, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	require.Equal(t, uint64(n), p.Stats().Spool.Recovered)
	require.NoError(t, p.Shutdown(context.Background()))
	require.Equal(t, want, healthy.exported(), "every record, after the restart, in order")
}

// TestSpoolOutageShutdownWaitsTheRestOfTheBudget: Shutdown during an
// outage that began before it waits only for what is left of the
// outage's budget, then leaves the records on disk.
func TestSpoolOutageShutdownWaitsTheRestOfTheBudget(t *testing.T) {
	const n = 100
	clk := clock.NewFake(time.Now())
	start := clk.Now()
	var errs errorLog
	exp := &outageExporter{down: true}
	p, err := New(exp, spoolOpts(t.TempDir(), &errs, withRetryClock(clk))...)
	require.NoError(t, err)
	emitSpooled(t, p, n)
	for clk.Since(start) < 40*time.Second {
		waitForRetryTimer(t, clk)
		clk.Advance(time.Second)
	}
	err = advanceUntil(t, clk, time.Second, p.stop, func() error { return p.Shutdown(context.Background()) })
	require.ErrorIs(t, err, ErrQueuedInSpool)
	require.Less(t, clk.Since(start), DefaultRetryMaxElapsed+2*time.Second, "one budget in all, not one more")
	s := p.Stats()
	requireInvariant(t, s)
	require.Zero(t, s.TotalDropped(), "%v", s)
	require.Equal(t, uint64(n), s.Spool.LeftForNextStart)
}

// TestSpoolExplicitRetryBudgetDrops: a retry budget the user set is a
// limit on staleness, with a spool as without one: once it is spent, the
// records are dropped as export_failed.
func TestSpoolExplicitRetryBudgetDrops(t *testing.T) {
	const n = 200
	clk := clock.NewFake(time.Now())
	var errs errorLog
	exp := &outageExporter{down: true}
	p, err := New(exp, spoolOpts(t.TempDir(), &errs, withRetryClock(clk), WithRetryMaxElapsed(DefaultRetryMaxElapsed))...)
	require.NoError(t, err)
	emitSpooled(t, p, n)
	err = advanceUntil(t, clk, time.Second, nil, func() error { return p.ForceFlush(context.Background()) })
	require.ErrorIs(t, err, errOutage)
	require.NotErrorIs(t, err, ErrQueuedInSpool)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Dropped[DropExportFailed], "%v", s)
	require.Zero(t, s.Queued)
	require.True(t, s.Destinations[0].OutageSpent)
	require.NoError(t, p.Shutdown(context.Background()))
	require.Zero(t, p.Stats().Spool.LeftForNextStart)
}
