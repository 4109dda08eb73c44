package exporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/otlperr"
	"github.com/steadylog/steadylog/retry"
)

func newTestBreaker(clk *clock.Fake, consecutive int) *breaker.Breaker {
	return breaker.MustNew(breaker.Config{
		ConsecutiveFailures: consecutive, OpenTimeout: 10 * time.Second,
		Clock: clk, Rand: func() float64 { return 0 },
	})
}

func TestWithBreakerPassesThrough(t *testing.T) {
	inner := &fakeExporter{}
	b := newTestBreaker(newFakeClock(), 2)
	exp := MustBreaker(inner, b)
	recs := makeRecords(t, 3)
	require.NoError(t, exp.Export(context.Background(), recs))
	assert.Equal(t, [][]string{{"0", "1", "2"}}, inner.Batches())
	assert.Equal(t, uint64(1), b.Counts().Successes)

	inner.setExport(failing(errBackend))
	err := exp.Export(context.Background(), recs)
	assert.ErrorIs(t, err, errBackend)
	assert.Equal(t, uint64(1), b.Counts().Failures)
}

func TestWithBreakerOpenReturnsAtOnceWithoutCallingInner(t *testing.T) {
	clk := newFakeClock()
	inner := &fakeExporter{export: failing(errBackend)}
	b := newTestBreaker(clk, 2)
	exp := MustBreaker(inner, b)
	recs := makeRecords(t, 2)

	for range 2 {
		require.ErrorIs(t, exp.Export(context.Background(), recs), errBackend)
	}
	require.Equal(t, breaker.Open, b.State())
	require.Equal(t, 2, inner.Calls())

	for range 5 {
		err := exp.Export(context.Background(), recs)
		require.ErrorIs(t, err, breaker.ErrOpen)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, clk.Now().Add(10*time.Second), oe.RetryAt)
		assert.Contains(t, err.Error(), "batch of 2 records not sent to *exporter.fakeExporter")
	}
	assert.Equal(t, 2, inner.Calls(), "the inner exporter was not called while open")
	assert.Equal(t, uint64(5), b.Counts().Rejected)

	// A refused Export does not even look at ctx: an expired one is fine.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, exp.Export(ctx, recs), breaker.ErrOpen)

	// Recovery: the probe reaches the inner exporter and closes the breaker.
	inner.setExport(nil)
	clk.Advance(10 * time.Second)
	require.NoError(t, exp.Export(context.Background(), recs))
	assert.Equal(t, 3, inner.Calls())
	assert.Equal(t, breaker.Closed, b.State())
}

func TestWithBreakerRecoversPanic(t *testing.T) {
	errValue := errors.New("nil map")
	inner := &fakeExporter{export: func(context.Context, int) error { panic(errValue) }}
	b := newTestBreaker(newFakeClock(), 1)
	exp := MustBreaker(inner, b)

	var err error
	require.NotPanics(t, func() { err = exp.Export(context.Background(), makeRecords(t, 1)) })
	assert.ErrorIs(t, err, ErrPanic)
	assert.ErrorIs(t, err, errValue, "an error panic value stays visible")
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "Export", pe.Method)
	assert.Contains(t, string(pe.Stack), "fakeExporter")
	assert.Equal(t, "steadylog/exporter: Export panicked: nil map", err.Error())
	assert.Equal(t, breaker.Open, b.State(), "the panic counted as a failure")
}

func TestWithBreakerClassifiesErrors(t *testing.T) {
	errBad := errors.New("failed to send logs to http://127.0.0.1:1/v1/logs: 400 Bad Request (body: bad)")

	t.Run("default classifier leaves errors alone", func(t *testing.T) {
		inner := &fakeExporter{export: failing(errBad)}
		b := newTestBreaker(newFakeClock(), 1)
		err := MustBreaker(inner, b).Export(context.Background(), makeRecords(t, 1))
		assert.Same(t, errBad, err)
		assert.Equal(t, breaker.Open, b.State())
	})
	t.Run("OTLP classifier marks OTLP errors", func(t *testing.T) {
		inner := &fakeExporter{export: failing(errBad)}
		b := newTestBreaker(newFakeClock(), 1)
		err := MustBreaker(inner, b, WithStandaloneClassifier(otlperr.Classify)).Export(context.Background(), makeRecords(t, 1))
		assert.True(t, retry.IsPermanent(err), "the caller sees the mark too")
		assert.ErrorIs(t, err, errBad)
		assert.Equal(t, breaker.Closed, b.State(), "a 400 is not the backend's fault")
		assert.Equal(t, uint64(1), b.Counts().Ignored)
	})
	t.Run("nil classifier leaves errors alone", func(t *testing.T) {
		inner := &fakeExporter{export: failing(errBad)}
		b := newTestBreaker(newFakeClock(), 1)
		err := MustBreaker(inner, b, WithStandaloneClassifier(nil)).Export(context.Background(), makeRecords(t, 1))
		assert.Same(t, errBad, err)
		assert.Equal(t, breaker.Open, b.State())
	})
	t.Run("custom classifier", func(t *testing.T) {
		inner := &fakeExporter{export: failing(errBackend)}
		b := newTestBreaker(newFakeClock(), 1)
		exp := MustBreaker(inner, b, WithStandaloneClassifier(func(err error) error {
			return retry.After(err, time.Minute)
		}))
		err := exp.Export(context.Background(), makeRecords(t, 1))
		d, ok := retry.Delay(err)
		assert.True(t, ok)
		assert.Equal(t, time.Minute, d)
	})
	t.Run("panicking classifier still reports the call", func(t *testing.T) {
		inner := &fakeExporter{export: failing(errBackend)}
		b := newTestBreaker(newFakeClock(), 1)
		exp := MustBreaker(inner, b, WithStandaloneClassifier(func(error) error { panic("bug") }))
		err := exp.Export(context.Background(), makeRecords(t, 1))
		assert.ErrorIs(t, err, errBackend)
		assert.ErrorIs(t, err, ErrPanic)
		assert.Equal(t, breaker.Open, b.State())
		assert.Zero(t, b.Counts().InFlight())
	})
}

func TestWithBreakerFlushAndShutdownBypassBreaker(t *testing.T) {
	inner := &fakeExporter{export: failing(errBackend)}
	b := newTestBreaker(newFakeClock(), 1)
	exp := MustBreaker(inner, b)
	_ = exp.Export(context.Background(), nil)
	require.Equal(t, breaker.Open, b.State())

	require.NoError(t, exp.ForceFlush(context.Background()))
	require.NoError(t, exp.Shutdown(context.Background()))
	flushes, shutdowns := inner.Counts()
	assert.Equal(t, 1, flushes)
	assert.Equal(t, 1, shutdowns)

	inner.flush = func(context.Context) error { panic("flush bug") }
	inner.stop = func(context.Context) error { panic("stop bug") }
	assert.ErrorIs(t, exp.ForceFlush(context.Background()), ErrPanic)
	err := exp.Shutdown(context.Background())
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "Shutdown", pe.Method)
	assert.Equal(t, "stop bug", pe.Value)
}

func TestNewBreakerNilArguments(t *testing.T) {
	b := breaker.MustNew(breaker.Config{})
	_, err := NewBreaker(nil, b)
	assert.EqualError(t, err, "steadylog/exporter: NewBreaker: the exporter is nil")
	_, err = NewBreaker(&fakeExporter{}, nil)
	assert.EqualError(t, err, "steadylog/exporter: NewBreaker: the *breaker.Breaker is nil")
	_, err = NewBreaker(&fakeExporter{}, b, nil)
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.EqualError(t, err, "steadylog/exporter: invalid option: option 0 is nil")
	assert.PanicsWithError(t, "steadylog/exporter: NewBreaker: the exporter is nil", func() { MustBreaker(nil, b) })
}

func TestNamed(t *testing.T) {
	exp := Named("audit", &fakeExporter{})
	assert.Equal(t, "audit", nameOf(exp))
	assert.Equal(t, "*exporter.fakeExporter", nameOf(&fakeExporter{}))
	assert.Equal(t, "audit", nameOf(MustBreaker(exp, breaker.MustNew(breaker.Config{}))), "NewBreaker keeps the inner name")
	assert.Nil(t, Named("x", nil), "Named of nil is nil, for the constructor it is given to to report")
}
