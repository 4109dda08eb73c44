package processor

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSpoolRemovedAtNewByAge: records the age bound removes when the
// spool is opened were received by the start that wrote them; this start
// counts them as received and dropped (spool_age), store-wide and for the
// destination that had not acknowledged them, so that the accounting
// holds, and not as recovered or damaged.
func TestSpoolRemovedAtNewByAge(t *testing.T) {
	const n = 500
	dir := t.TempDir()
	spoolBacklog(t, dir, n)

	var errs errorLog
	exp := &spoolExporter{}
	p, err := New(exp, spoolOpts(dir, &errs, WithSpool(dir, WithSpoolSyncInterval(0), WithSpoolMaxAge(time.Nanosecond)))...)
	require.NoError(t, err)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Received)
	require.Equal(t, uint64(n), s.Dropped[DropSpoolAge], "%v", s)
	require.Zero(t, s.Spool.Recovered)
	require.Zero(t, s.Spool.Damaged)
	require.Equal(t, uint64(n), s.Destinations[0].Received)
	require.Equal(t, uint64(n), s.Destinations[0].Dropped[DropSpoolAge])
	require.Equal(t, 1, errs.matching("500 records removed by the spool's bounds"), "%v", errs.errs)
	require.NoError(t, p.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	require.Zero(t, exp.count())
}

// TestSpoolRemovedAtNewBySize: a byte bound smaller than the files when
// the spool is opened removes the oldest of them; their records count as
// received and dropped (spool_full) store-wide, and for each destination
// as far as it had not acknowledged them: the one that had exported
// everything drops nothing.
func TestSpoolRemovedAtNewBySize(t *testing.T) {
	const n = 1000
	const segment = 16 << 10
	dir := t.TempDir()
	healthy, hung := &spoolExporter{}, &spoolExporter{gate: make(chan struct{})}
	dests := func(a, b *spoolExporter) []Destination {
		return []Destination{{Name: "healthy", Exporter: a}, {Name: "hung", Exporter: b}}
	}
	p, err := NewWithDestinations(dests(healthy, hung), WithSpool(dir, WithSpoolSegmentSize(segment)),
		WithoutDropAlerts(), WithErrorHandler(func(error) {}))
	require.NoError(t, err)
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	// Exported, not only handed to the exporter: its position is past
	// every record.
	require.Eventually(t, func() bool { return p.Stats().Destinations[0].Exported == n }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate)
	waitWorkers(p)
	s := p.Stats()
	require.Equal(t, uint64(n), s.Destinations[1].LeftForNextStart)

	// Open removes the oldest files until the rest fit in two segments.
	frames := spoolFrames(t, dir)
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	var total int64
	sizes := map[string]int64{}
	for _, f := range files {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		sizes[f] = fi.Size()
		total += fi.Size()
	}
	removedFiles := map[string]bool{}
	for _, f := range files {
		if total <= 2*segment {
			break
		}
		removedFiles[f] = true
		total -= sizes[f]
	}
	removed := 0
	for _, fr := range frames {
		if removedFiles[fr.file] {
			removed += fr.records
		}
	}
	require.Positive(t, removed)
	require.Less(t, removed, n)

	var errs errorLog
	healthy2, hung2 := &spoolExporter{}, &spoolExporter{}
	p2, err := NewWithDestinations(dests(healthy2, hung2),
		spoolOpts(dir, &errs, WithSpool(dir, WithSpoolSyncInterval(0), WithSpoolSegmentSize(segment), WithSpoolMaxBytes(2*segment)))...)
	require.NoError(t, err)
	s = p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Received)
	require.Equal(t, uint64(removed), s.Dropped[DropSpoolFull], "%v", s)
	require.Equal(t, uint64(n-removed), s.Spool.Recovered)
	require.Zero(t, s.Spool.Damaged)
	require.Zero(t, s.Destinations[0].Received, "the healthy destination had acknowledged every record")
	require.Zero(t, s.Destinations[0].TotalDropped())
	require.Equal(t, uint64(n), s.Destinations[1].Received)
	require.Equal(t, uint64(removed), s.Destinations[1].Dropped[DropSpoolFull])
	require.Equal(t, uint64(n-removed), s.Destinations[1].Recovered)
	require.NoError(t, p2.Shutdown(context.Background()))
	s = p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n-removed), s.Exported)
	require.Equal(t, n-removed, hung2.count())
	require.Zero(t, healthy2.count())
}
