package processor

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSpoolOpensLate: a spool that cannot be opened at New (its path
// names a file) is opened once it can be (the file is gone: the directory
// is created, 0700), within a sync interval; the spooler then writes what
// memory holds and what comes after, and a restart delivers all of it.
// The failure is reported once, the recovery once.
func TestSpoolOpensLate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, WithSpool(path, WithSpoolSyncInterval(5*time.Millisecond)), WithExportInterval(10*time.Millisecond),
		WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, 50)
	s := p.Stats()
	require.True(t, s.Spool.Degraded, "%+v", *s.Spool)
	require.Contains(t, s.Spool.LastError, "could not be opened")
	require.Zero(t, s.Spool.Records)
	require.Equal(t, 1, errs.matching("could not be opened"))

	// Retries fail while the file is there: counted, not reported again.
	require.Eventually(t, func() bool { return p.Stats().Spool.Errors >= 3 }, 10*time.Second, time.Millisecond)
	require.Equal(t, 1, errs.matching("could not be opened"))

	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool { return !p.Stats().Spool.Degraded }, 10*time.Second, time.Millisecond)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	require.Equal(t, 1, errs.matching("spooling again after"))
	spoolEmit(lg, 50, 100)
	require.Eventually(t, func() bool { return spoolWritten(p) }, 10*time.Second, time.Millisecond)
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(100), s.Spool.Records, "what memory held when it opened, and what came after: %+v", *s.Spool)
	require.Zero(t, s.Spool.Recovered)
	require.Equal(t, uint64(100), s.Received)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate)
	waitWorkers(p)
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(100), s.Spool.LeftForNextStart, "%v", s)
	require.Zero(t, s.TotalDropped())
	// The recovery's report names the last failure too.
	require.Equal(t, 1, errs.matching("could not be opened")-errs.matching("spooling again after"), "%v", errs.errs)

	exp := &spoolExporter{}
	p2, err := New(exp, spoolOpts(path, &errs)...)
	require.NoError(t, err)
	require.Equal(t, uint64(100), p2.Stats().Spool.Recovered)
	require.Eventually(t, func() bool { return exp.count() == 100 }, 10*time.Second, time.Millisecond)
	require.Equal(t, expectedKeys(0, 100), exp.exported(), "every record, identical, in order")
	require.NoError(t, p2.Shutdown(context.Background()))
	requireInvariant(t, p2.Stats())
}

// TestSpoolOpensLateOnlyEmpty: a directory that can be opened only after
// New and holds records of an earlier run is left untouched for the next
// start: reported once, the processor stays in memory (delivering
// everything it takes) and stops trying; the next start delivers the
// records left.
func TestSpoolOpensLateOnlyEmpty(t *testing.T) {
	parent := t.TempDir()
	old := filepath.Join(parent, "old", "spool")
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p0, err := New(hung, spoolOpts(old, &errs)...)
	require.NoError(t, err)
	_, lg0 := spoolProvider(p0, nil)
	spoolEmit(lg0, 0, 30)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p0.Shutdown(ctx), context.Canceled)
	close(hung.gate) // its late result is ignored
	waitWorkers(p0)
	require.Equal(t, uint64(30), p0.Stats().Spool.LeftForNextStart)

	// The spool's path goes through a symbolic link to a file, then,
	// swapped atomically, to the earlier run's directory.
	file := filepath.Join(parent, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	link := filepath.Join(parent, "link")
	require.NoError(t, os.Symlink(file, link))
	path := filepath.Join(link, "spool")
	exp := &spoolExporter{}
	p, err := New(exp, WithSpool(path, WithSpoolSyncInterval(5*time.Millisecond)), WithExportInterval(10*time.Millisecond),
		WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	require.True(t, p.Stats().Spool.Degraded)
	lp, lg := spoolProvider(p, nil)
	spoolEmit(lg, 100, 110)

	swap := filepath.Join(parent, "swap")
	require.NoError(t, os.Symlink(filepath.Join(parent, "old"), swap))
	require.NoError(t, os.Rename(swap, link))
	select {
	case <-p.sp.done: // it gave up: nothing more to try
	case <-time.After(10 * time.Second):
		t.Fatal("the spooler kept trying a directory with records of an earlier run")
	}
	require.Equal(t, 1, errs.matching("holds 1 batches of records of an earlier run"), "%v", errs.errs)
	s := p.Stats()
	require.True(t, s.Spool.Degraded)
	require.Contains(t, s.Spool.LastError, "left there for the next start")
	require.Zero(t, s.Spool.Recovered)
	require.Zero(t, s.Spool.Records)
	spoolEmit(lg, 110, 120)
	require.NoError(t, lp.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(20), s.Received)
	require.Equal(t, uint64(20), s.Exported, "from memory: %v", s)
	require.Equal(t, expectedKeys(100, 120), exp.exported())

	exp2 := &spoolExporter{}
	p2, err := New(exp2, spoolOpts(old, &errs)...)
	require.NoError(t, err)
	require.Equal(t, uint64(30), p2.Stats().Spool.Recovered)
	require.Eventually(t, func() bool { return exp2.count() == 30 }, 10*time.Second, time.Millisecond)
	require.Equal(t, expectedKeys(0, 30), exp2.exported())
	require.NoError(t, p2.Shutdown(context.Background()))
}
