package exporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/retry"
)

func TestFailoverPrimaryHealthy(t *testing.T) {
	primary, fallback := &fakeExporter{}, &fakeExporter{}
	f := MustFailover(primary, fallback)
	require.NoError(t, f.Export(context.Background(), makeRecords(t, 2)))
	assert.Equal(t, [][]string{{"0", "1"}}, primary.Batches())
	assert.Zero(t, fallback.Calls())
}

func TestFailoverOnPrimaryError(t *testing.T) {
	primary, fallback := &fakeExporter{export: failing(errBackend)}, &fakeExporter{}
	var reported []error
	f := MustFailover(Named("otlp", primary), Named("file", fallback),
		WithPrimaryErrorHandler(func(err error) { reported = append(reported, err) }))
	require.NoError(t, f.Export(context.Background(), makeRecords(t, 2)), "the fallback delivered the batch")
	assert.Equal(t, [][]string{{"0", "1"}}, fallback.Batches())
	require.Len(t, reported, 1)
	assert.ErrorIs(t, reported[0], errBackend)
	assert.EqualError(t, reported[0], "exporter 0 (otlp): backend down")
}

func TestFailoverBothFail(t *testing.T) {
	errFile := errors.New("disk full")
	f := MustFailover(Named("otlp", &fakeExporter{export: failing(errBackend)}), Named("file", &fakeExporter{export: failing(errFile)}))
	err := f.Export(context.Background(), makeRecords(t, 1))
	assert.ErrorIs(t, err, errBackend)
	assert.ErrorIs(t, err, errFile)
	assert.Equal(t, "exporter 0 (otlp): backend down\nexporter 1 (file): disk full", err.Error())
}

func TestFailoverPermanentErrorDoesNotFallBack(t *testing.T) {
	bad := retry.Permanent(errors.New("400 Bad Request"))
	fallback := &fakeExporter{}
	f := MustFailover(&fakeExporter{export: failing(bad)}, fallback)
	err := f.Export(context.Background(), makeRecords(t, 1))
	assert.True(t, retry.IsPermanent(err))
	assert.Zero(t, fallback.Calls(), "the fallback would get the same bad data")
}

func TestFailoverPanics(t *testing.T) {
	boom := func(context.Context, int) error { panic("boom") }
	fallback := &fakeExporter{}
	f := MustFailover(&fakeExporter{export: boom}, fallback)
	require.NoError(t, f.Export(context.Background(), makeRecords(t, 1)))
	assert.Equal(t, 1, fallback.Calls())

	f = MustFailover(&fakeExporter{export: boom}, &fakeExporter{export: boom})
	err := f.Export(context.Background(), makeRecords(t, 1))
	assert.ErrorIs(t, err, ErrPanic)
	assert.Contains(t, err.Error(), "exporter 0")
	assert.Contains(t, err.Error(), "exporter 1")
}

// TestFailoverSwitchesWithBreaker drives a breaker-guarded primary through
// failure, open, recovery and failure again with an injected clock.
func TestFailoverSwitchesWithBreaker(t *testing.T) {
	clk := newFakeClock()
	inner := &fakeExporter{}
	b := newTestBreaker(clk, 2)
	fallback := &fakeExporter{}
	f := MustFailover(MustBreaker(inner, b), fallback)
	recs := makeRecords(t, 1)
	export := func() { require.NoError(t, f.Export(context.Background(), recs)) }
	tally := func() (int, int) { return inner.Calls(), fallback.Calls() }

	export()
	assertTally(t, tally, 1, 0, "healthy: primary")

	inner.setExport(failing(errBackend))
	export()
	export()
	assertTally(t, tally, 3, 2, "failing: primary tried, fallback delivers")
	require.Equal(t, breaker.Open, b.State())

	inner.setExport(nil) // the backend recovers, but the breaker is open
	export()
	export()
	assertTally(t, tally, 3, 4, "open: primary not called at all")

	clk.Advance(10 * time.Second)
	export() // the probe
	assertTally(t, tally, 4, 4, "half-open: the probe reaches the primary")
	require.Equal(t, breaker.Closed, b.State())
	export()
	assertTally(t, tally, 5, 4, "closed: back to the primary")

	inner.setExport(failing(errBackend))
	export()
	export()
	export()
	assertTally(t, tally, 7, 7, "tripped again: fallback")
	clk.Advance(10 * time.Second)
	export() // failed probe: reopened with a longer wait
	assertTally(t, tally, 8, 8, "failed probe goes to the fallback too")
	clk.Advance(10 * time.Second)
	export()
	assertTally(t, tally, 8, 9, "the wait doubled to 20 s")
}

func assertTally(t *testing.T, tally func() (int, int), primary, fallback int, msg string) {
	t.Helper()
	p, f := tally()
	assert.Equal(t, primary, p, "primary calls: %s", msg)
	assert.Equal(t, fallback, f, "fallback calls: %s", msg)
}

func TestFailoverFlushAndShutdownReachBoth(t *testing.T) {
	primary := &fakeExporter{flush: func(context.Context) error { panic("x") }}
	fallback := &fakeExporter{}
	f := MustFailover(primary, fallback)
	assert.ErrorIs(t, f.ForceFlush(context.Background()), ErrPanic)
	require.NoError(t, f.Shutdown(context.Background()))
	for _, e := range []*fakeExporter{primary, fallback} {
		fl, sd := e.Counts()
		assert.Equal(t, 1, fl)
		assert.Equal(t, 1, sd)
	}
}

func TestFailoverNilArguments(t *testing.T) {
	_, err := NewFailover(nil, &fakeExporter{})
	assert.EqualError(t, err, "steadylog/exporter: NewFailover: the primary exporter is nil")
	_, err = NewFailover(&fakeExporter{}, nil)
	assert.EqualError(t, err, "steadylog/exporter: NewFailover: the fallback exporter is nil")
	_, err = NewFailover(&fakeExporter{}, &fakeExporter{}, nil)
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.PanicsWithError(t, "steadylog/exporter: NewFailover: the primary exporter is nil", func() { MustFailover(nil, &fakeExporter{}) })
}
