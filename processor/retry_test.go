package processor

import (
	"context"
	"errors"

	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/retry"
)

// flakyExporter fails while failing() says so, then records what it
// exports. It counts the calls made while failing.
type flakyExporter struct {
	failing     func() bool
	err         error
	failedCalls atomic.Int64
	mu          sync.Mutex
	seen        map[string]int
	order       []string
}

func (e *flakyExporter) Export(_ context.Context, recs []sdklog.Record) error {
	if e.failing() {
		e.failedCalls.Add(1)
		return e.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]int{}
	}
	for i := range recs {
		b := recs[i].Body().AsString()
		e.seen[b]++
		e.order = append(e.order, b)
	}
	return nil
}
func (e *flakyExporter) ForceFlush(context.Context) error { return nil }
func (e *flakyExporter) Shutdown(context.Context) error   { return nil }

func failFirst(n int64) func() bool {
	var calls atomic.Int64
	return func() bool { return calls.Add(1) <= n }
}

func TestTransientFailureKeepsBatchAtHead(t *testing.T) {
	exp := &flakyExporter{failing: failFirst(3), err: errBackend}
	p := newProcessor(t, exp, WithExportMaxBatchSize(10), WithExportInterval(time.Hour),
		WithRetryBackoff(time.Millisecond, 2*time.Millisecond), WithErrorHandler(func(error) {}))
	for i := 0; i < 25; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	require.NoError(t, p.ForceFlush(context.Background()))
	s := p.Stats()
	assert.Equal(t, uint64(25), s.Exported)
	assert.Nil(t, s.Dropped)
	assert.Equal(t, int64(3), exp.failedCalls.Load())
	want := make([]string, 25)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	assert.Equal(t, want, exp.order, "each record exactly once, in arrival order")
	shutdownNow(t, p, nil)
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	exp := &flakyExporter{failing: func() bool { return true }, err: retry.Permanent(errors.New("400 Bad Request"))}
	p := newProcessor(t, exp, WithExportMaxBatchSize(10), WithExportInterval(time.Hour), WithErrorHandler(func(error) {}))
	for i := 0; i < 5; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	require.Error(t, p.ForceFlush(context.Background()))
	assert.Equal(t, map[DropReason]uint64{DropExportFailed: 5}, p.Stats().Dropped)
	assert.Equal(t, int64(1), exp.failedCalls.Load())
	shutdownNow(t, p, nil)
}

func TestRetryGivesUpAfterMaxElapsed(t *testing.T) {
	exp := &flakyExporter{failing: func() bool { return true }, err: errBackend}
	p := newProcessor(t, exp, WithExportMaxBatchSize(5), WithErrorHandler(func(error) {}),
		WithRetryBackoff(time.Millisecond, time.Millisecond), WithRetryMaxElapsed(30*time.Millisecond))
	for i := 0; i < 5; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	err := p.ForceFlush(context.Background())
	require.ErrorIs(t, err, errBackend)
	s := p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropExportFailed: 5}, s.Dropped)
	assert.Greater(t, exp.failedCalls.Load(), int64(1), "the batch was retried before it was given up")
	requireInvariant(t, s)
	shutdownNow(t, p, nil)
}

// TestRetriedBatchIsEvictedFirst: while a batch waits for its retry the
// queue keeps admitting; on overflow the retried records, being the
// oldest, go first. Shutdown then cannot wait for a retry beyond its
// deadline: it returns the failure and counts the rest as shutdown.
func TestRetriedBatchIsEvictedFirst(t *testing.T) {
	exp := &flakyExporter{failing: func() bool { return true }, err: errBackend}
	failed := make(chan error, 16)
	p := newProcessor(t, exp, WithMaxQueueSize(4), WithExportMaxBatchSize(2), WithExportInterval(time.Hour),
		WithRetryBackoff(time.Hour, time.Hour), WithErrorHandler(func(err error) { failed <- err }))
	emit(t, p, "a", log.SeverityInfo)
	emit(t, p, "b", log.SeverityInfo) // a full batch: exported, fails, requeued
	<-failed
	s := p.Stats()
	require.Equal(t, 2, s.Queued)
	require.Zero(t, s.InFlight)
	for _, b := range []string{"c", "d", "e", "f"} {
		emit(t, p, b, log.SeverityInfo)
	}
	s = p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropQueueFull: 2}, s.Dropped)
	assert.Equal(t, 4, s.Queued)
	assert.Equal(t, int64(1), exp.failedCalls.Load(), "no export while the retry is pending")

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.Shutdown(ctx)
	require.ErrorIs(t, err, errBackend)
	s = p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropQueueFull: 2, DropShutdown: 4}, s.Dropped)
	requireInvariant(t, s)
}

func TestOpenBreakerFailsFlushAndShutdownFast(t *testing.T) {
	backend := &flakyExporter{failing: func() bool { return true }, err: syscall.ECONNREFUSED}
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour, MaxOpenTimeout: time.Hour})
	p := newProcessor(t, exporter.MustBreaker(backend, b), WithExportMaxBatchSize(5), WithExportInterval(time.Hour),
		WithRetryBackoff(time.Millisecond, time.Millisecond), WithErrorHandler(func(error) {}))
	for i := 0; i < 5; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.ForceFlush(ctx)
	require.ErrorIs(t, err, breaker.ErrOpen, "the next probe is an hour away: waiting cannot help")
	require.ErrorIs(t, err, context.DeadlineExceeded, "giving up early is a deadline outcome")
	require.NoError(t, ctx.Err(), "ForceFlush returned before its deadline")
	assert.Equal(t, breaker.Open, b.State())
	assert.Equal(t, int64(1), backend.failedCalls.Load())

	err = p.Shutdown(ctx)
	require.ErrorIs(t, err, breaker.ErrOpen)
	require.NoError(t, ctx.Err())
	s := p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropShutdown: 5}, s.Dropped)
	requireInvariant(t, s)
}

// TestOutageIsRiddenOut is the breaker scenario end to end: the backend
// refuses connections for 2 s while records keep coming, then recovers.
// With a queue large enough for the outage, every record is exported
// exactly once and the dead backend is called only a handful of times.
func TestOutageIsRiddenOut(t *testing.T) {
	outageEnd := time.Now().Add(2 * time.Second)
	backend := &flakyExporter{failing: func() bool { return time.Now().Before(outageEnd) }, err: syscall.ECONNREFUSED}
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 3, OpenTimeout: 500 * time.Millisecond})
	p := newProcessor(t, exporter.MustBreaker(backend, b), WithMaxQueueSize(10000),
		WithExportInterval(50*time.Millisecond), WithErrorHandler(func(error) {}))

	const total = 3000
	tick := time.NewTicker(time.Millisecond) // traffic over the outage, ~1000 records/s
	defer tick.Stop()
	for i := 0; i < total; i++ {
		if i%3 == 0 {
			<-tick.C
		}
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	for time.Now().Before(outageEnd) {
		<-tick.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.ForceFlush(ctx))
	s := p.Stats()
	assert.Equal(t, uint64(total), s.Exported)
	assert.Nil(t, s.Dropped)
	backend.mu.Lock()
	assert.Len(t, backend.seen, total)
	for body, n := range backend.seen {
		if n != 1 {
			t.Errorf("record %s exported %d times", body, n)
		}
	}
	backend.mu.Unlock()
	calls := backend.failedCalls.Load()
	t.Logf("calls to the dead backend during the 2 s outage: %d", calls)
	assert.LessOrEqual(t, calls, int64(10))
	shutdownNow(t, p, nil)
}

// ctxExporter blocks until its context ends on the first call, then
// succeeds.
type ctxExporter struct {
	calls atomic.Int64
	recordingExporter
}

func (e *ctxExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.calls.Add(1) == 1 {
		<-ctx.Done()
		return ctx.Err()
	}
	return e.recordingExporter.Export(ctx, recs)
}

// TestCallerDeadlineIsNotABackendFailure: a flush that gives up mid-export
// leaves the batch queued with no backoff, so the next attempt is not
// delayed by a failure that was the caller's.
func TestCallerDeadlineIsNotABackendFailure(t *testing.T) {
	exp := &ctxExporter{}
	p := newProcessor(t, exp, WithExportMaxBatchSize(10), WithExportInterval(time.Hour),
		WithRetryBackoff(time.Hour, time.Hour), WithErrorHandler(func(error) {}))
	for i := 0; i < 3; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.ForceFlush(short), context.DeadlineExceeded)

	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	require.NoError(t, p.ForceFlush(ctx), "a backoff of an hour would have been waited for")
	assert.Equal(t, []string{"0", "1", "2"}, exp.exported())
	assert.Nil(t, p.Stats().Dropped)
	shutdownNow(t, p, nil)
}
