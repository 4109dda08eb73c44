package processor_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

// switchExporter refuses every call while down, as a killed collector
// does, and counts calls and accepted records.
type switchExporter struct {
	down     atomic.Bool
	calls    atomic.Int64
	accepted atomic.Int64
}

func (e *switchExporter) Export(_ context.Context, recs []sdklog.Record) error {
	e.calls.Add(1)
	if e.down.Load() {
		return errors.New("connection refused")
	}
	e.accepted.Add(int64(len(recs)))
	return nil
}
func (e *switchExporter) ForceFlush(context.Context) error { return nil }
func (e *switchExporter) Shutdown(context.Context) error   { return nil }

// While records are being dropped for want of room, an open breaker does
// not make the destination wait out its whole wait (an hour here): the
// processor probes on its retry backoff's schedule, and the first probe
// after the backend is back closes the breaker and delivers.
func TestOpenBreakerIsProbedEarlyWhileRecordsAreDropped(t *testing.T) {
	exp := &switchExporter{}
	exp.down.Store(true)
	b := breaker.MustNew(breaker.Config{OpenTimeout: time.Hour, ConsecutiveFailures: 1})
	p, err := processor.New(exporter.MustBreaker(exp, b), append(quiet(), processor.WithMaxQueueSize(20),
		processor.WithExportMaxBatchSize(10), processor.WithRetryBackoff(time.Millisecond, 20*time.Millisecond))...)
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	l := lp.Logger("test")
	for i := range 10 {
		emitBody(l, strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return b.State() == breaker.Open }, 5*time.Second, time.Millisecond)
	for i := range 100 {
		emitBody(l, strconv.Itoa(10+i))
	}
	require.NotZero(t, p.Stats().Dropped[processor.DropQueueFull], "records are being dropped")
	calls := exp.calls.Load()
	require.Eventually(t, func() bool { return exp.calls.Load() >= calls+3 }, 5*time.Second, time.Millisecond,
		"the dead backend is probed before the breaker's hour is up")
	assert.Equal(t, breaker.Open, b.State(), "failed early probes keep it open")
	assert.Equal(t, uint64(1), b.Counts().Trips, "and do not count as trips")

	exp.down.Store(false)
	require.Eventually(t, func() bool { return p.Stats().Exported > 0 }, 5*time.Second, time.Millisecond,
		"the backend is found again within the retry backoff")
	assert.Equal(t, breaker.Closed, b.State())
	require.NoError(t, lp.Shutdown(context.Background()))
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(20), s.Exported, "the queue kept during the outage")
	assert.Equal(t, int64(20), exp.accepted.Load())
}

// Nothing is lost while the queue has room: the breaker's wait is kept,
// and the dead backend is not called again before it ends.
func TestOpenBreakerIsNotProbedEarlyWhileNothingIsLost(t *testing.T) {
	exp := &switchExporter{}
	exp.down.Store(true)
	b := breaker.MustNew(breaker.Config{OpenTimeout: time.Hour, ConsecutiveFailures: 1})
	p, err := processor.New(exporter.MustBreaker(exp, b), append(quiet(), processor.WithMaxQueueSize(1000),
		processor.WithExportMaxBatchSize(10), processor.WithRetryBackoff(time.Millisecond, 2*time.Millisecond))...)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(i))))
	}
	require.Eventually(t, func() bool { return b.State() == breaker.Open }, 5*time.Second, time.Millisecond)
	calls := exp.calls.Load()
	// A window of 100 retry backoffs, in which an early probe would have
	// been made many times over: nothing happens that could be waited for.
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, calls, exp.calls.Load(), "no early probe while nothing is dropped")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.DeadlineExceeded)
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(10), s.Dropped[processor.DropShutdown])
}
