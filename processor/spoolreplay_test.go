package processor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
)

// replayBacklog leaves n records in a spool in dir, written a payload of
// per records at a time, for the next processor to replay.
func replayBacklog(t *testing.T, dir string, n, per int) {
	t.Helper()
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	_, lg := spoolProvider(p, nil)
	for i := 0; i < n; i += per {
		spoolEmit(lg, i, i+per)
		require.Eventually(t, func() bool { return spoolWritten(p) }, 10*time.Second, time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate) // its late result is ignored
	waitWorkers(p)
	require.Equal(t, uint64(n), p.Stats().Spool.LeftForNextStart)
}

// replayClock is a SpoolOption that paces the replay on c.
func replayClock(c clock.Clock) SpoolOption {
	return spoolOptionFunc(func(sc *spoolConfig) { sc.clock = c })
}

// replayProcessor leaves n records in a spool in dir, in payloads of per,
// and opens a processor on it that replays rate records a second on a
// fake clock, exporting batches of per.
func replayProcessor(t *testing.T, dir string, n, per, rate int, errs *errorLog) (*Processor, *spoolExporter, *clock.Fake) {
	t.Helper()
	replayBacklog(t, dir, n, per)
	fc := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	exp := &spoolExporter{}
	p, err := New(exp, WithSpool(dir, WithSpoolSyncInterval(0), WithSpoolReplayRate(rate), replayClock(fc)),
		WithExportMaxBatchSize(per), WithExportInterval(10*time.Millisecond), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	return p, exp, fc
}

// TestSpoolReplayRate: with a replay rate of 100 records a second and
// payloads of 10 records, a destination reads a payload, then waits 100 ms
// of the processor's clock before the next; records it reads from memory
// are not paced.
func TestSpoolReplayRate(t *testing.T) {
	const n, per = 50, 10
	dir := filepath.Join(t.TempDir(), "spool")
	var errs errorLog
	p, exp, fc := replayProcessor(t, dir, n, per, 100, &errs)
	for read := per; read < n; read += per {
		fc.BlockUntil(1) // the worker waits for the limiter, having read one more payload
		require.Equal(t, read, exp.count())
		fc.Advance(99 * time.Millisecond)
		require.Equal(t, 1, fc.Waiters(), "not due yet")
		require.Equal(t, read, exp.count())
		fc.Advance(time.Millisecond)
	}
	require.Eventually(t, func() bool { return exp.count() == n }, 10*time.Second, time.Millisecond)

	// From memory, without the clock moving.
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, n, 3*n)
	require.Eventually(t, func() bool { return exp.count() == 3*n }, 10*time.Second, time.Millisecond)
	require.Equal(t, expectedKeys(0, 3*n), exp.exported())
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(3*n), s.Exported)
	require.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// TestSpoolReplayRateBoundedByContexts: ForceFlush and Shutdown wait for
// the replay rate only within their context; what Shutdown did not read
// stays in the spool, and the next start delivers it.
func TestSpoolReplayRateBoundedByContexts(t *testing.T) {
	const n, per = 50, 10
	dir := filepath.Join(t.TempDir(), "spool")
	var errs errorLog
	p, exp, fc := replayProcessor(t, dir, n, per, 1, &errs)
	fc.BlockUntil(1) // one payload read; the next in 10 s of a clock that does not move
	require.Equal(t, per, exp.count())

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.ForceFlush(ctx), context.DeadlineExceeded)

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, p.Shutdown(ctx), context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second, "Shutdown returns by its deadline")
	waitWorkers(p)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, per, exp.count())
	require.Equal(t, uint64(n-per), s.Spool.LeftForNextStart, "%v", s)
	require.Zero(t, s.TotalDropped())

	exp2 := &spoolExporter{}
	p2, err := New(exp2, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return exp2.count() >= n-per }, 10*time.Second, time.Millisecond)
	require.NoError(t, p2.Shutdown(context.Background()))
	require.Equal(t, expectedKeys(per, n), exp2.exported()[exp2.count()-(n-per):], "the rest, in order")
}

// TestSpoolReplayRateInvalid: a negative rate makes New fail.
func TestSpoolReplayRateInvalid(t *testing.T) {
	_, err := New(&spoolExporter{}, WithSpool(t.TempDir(), WithSpoolReplayRate(-1)))
	require.ErrorIs(t, err, ErrInvalidOption)
	require.ErrorContains(t, err, "WithSpoolReplayRate(-1)")
}
