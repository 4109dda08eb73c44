package processor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
	"github.com/steadylog/steadylog/retry"
)

// bodyExporter keeps how often it received each body, and closes full once
// it has received want records in all.
type bodyExporter struct {
	mu     sync.Mutex
	seen   map[string]int
	total  int
	want   int
	full   chan struct{}
	closed bool
	calls  atomic.Int64
}

var errBackend = errors.New("backend refused")

func newBodyExporter(want int) *bodyExporter {
	return &bodyExporter{seen: map[string]int{}, want: want, full: make(chan struct{})}
}

func (e *bodyExporter) Export(_ context.Context, recs []sdklog.Record) error {
	e.calls.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range recs {
		e.seen[recs[i].Body().AsString()]++
	}
	e.total += len(recs)
	if e.total >= e.want && !e.closed {
		e.closed = true
		close(e.full)
	}
	return nil
}
func (e *bodyExporter) ForceFlush(context.Context) error { return nil }
func (e *bodyExporter) Shutdown(context.Context) error   { return nil }

// duplicates returns the bodies received more than once, and how many
// distinct bodies were received.
func (e *bodyExporter) duplicates() (dups []string, distinct int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for b, n := range e.seen {
		if n > 1 {
			dups = append(dups, b)
		}
	}
	return dups, len(e.seen)
}

func (e *bodyExporter) received() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total
}

// waitFull waits until e has received its records; limit is a hang
// detector.
func (e *bodyExporter) waitFull(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-e.full:
	case <-time.After(limit):
		t.Fatalf("the exporter received %d of %d records within %v", e.received(), e.want, limit)
	}
}

type panickingExporter struct{}

func (panickingExporter) Export(context.Context, []sdklog.Record) error { panic("member bug") }
func (panickingExporter) ForceFlush(context.Context) error              { return nil }
func (panickingExporter) Shutdown(context.Context) error                { return nil }

// hungExporter blocks every Export, ignoring its context, until release is
// closed.
type hungExporter struct {
	release   chan struct{}
	entered   chan struct{} // receives once per call, if there is room
	got       atomic.Int64
	shutdowns atomic.Int64
}

func newHungExporter() *hungExporter {
	return &hungExporter{release: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (e *hungExporter) Export(_ context.Context, recs []sdklog.Record) error {
	select {
	case e.entered <- struct{}{}:
	default:
	}
	<-e.release
	e.got.Add(int64(len(recs)))
	return nil
}
func (e *hungExporter) ForceFlush(context.Context) error { return nil }
func (e *hungExporter) Shutdown(context.Context) error   { e.shutdowns.Add(1); return nil }

func destination(t *testing.T, s processor.Stats, name string) processor.DestinationStats {
	t.Helper()
	for _, d := range s.Destinations {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no destination %q in %+v", name, s.Destinations)
	return processor.DestinationStats{}
}

// The case: one healthy, one panicking and one hung member of a
// fan-out behind the processor. The healthy one receives every record
// exactly once, promptly, and the accounting of each says what happened.
func TestFanoutMembersAreIndependentDestinations(t *testing.T) {
	const n = 1000
	healthy := newBodyExporter(n)
	hung := newHungExporter()
	defer close(hung.release)
	p, err := processor.New(exporter.MustFanout(
		exporter.Named("healthy", healthy),
		exporter.Named("panicking", panickingExporter{}),
		exporter.Named("hung", hung),
	), append(quiet(), processor.WithExportTimeout(200*time.Millisecond), processor.WithExportInterval(10*time.Millisecond))...)
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(i))))
	}
	healthy.waitFull(t, 3*time.Second)
	dups, distinct := healthy.duplicates()
	require.Empty(t, dups, "the healthy member received records twice")
	require.Equal(t, n, distinct)
	// The exporter saw the last record inside its Export call; the
	// processor accounts for the batch once the call returns.
	require.Eventually(t, func() bool { return destination(t, p.Stats(), "healthy").Exported == n }, 3*time.Second, time.Millisecond)

	s := p.Stats()
	invariant(t, s)
	h := destination(t, s, "healthy")
	assert.Equal(t, uint64(n), h.Exported)
	assert.Empty(t, h.Dropped)
	assert.Zero(t, h.Queued+h.InFlight)
	hd := destination(t, s, "hung")
	assert.Zero(t, hd.Exported)
	assert.Positive(t, hd.InFlight, "the hung member holds a batch in flight")
	assert.Equal(t, n, hd.Queued+hd.InFlight)
	// Panics are not retried: every batch is dropped as export_failed, and
	// promptly (the panicking member does not wait for the others).
	require.Eventually(t, func() bool {
		return destination(t, p.Stats(), "panicking").Dropped[processor.DropExportFailed] == n
	}, 3*time.Second, time.Millisecond)

	// Shutdown gives up on the hung member only: its records count as its
	// shutdown drops; the others are done.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = p.Shutdown(ctx)
	require.True(t, errors.Is(err, processor.ErrExporterHung) || errors.Is(err, context.DeadlineExceeded), "%v", err)
	s = p.Stats()
	invariant(t, s)
	h = destination(t, s, "healthy")
	assert.Equal(t, uint64(n), h.Exported)
	assert.Equal(t, uint64(n), destination(t, s, "hung").Dropped[processor.DropShutdown])
	// Store-wide, a record counts as exported only when every destination
	// exported it, and as dropped under the reason of its first drop.
	assert.Zero(t, s.Exported)
	assert.Equal(t, uint64(n), s.TotalDropped())
	assert.Equal(t, uint64(n), s.Dropped[processor.DropExportFailed]+s.Dropped[processor.DropShutdown])
	assert.Equal(t, n, healthy.received(), "no redelivery to the healthy member")
}

// A destination that falls behind counts the records the store evicts as
// its own drops; the healthy one is untouched and gets every record.
func TestLaggardEvictionCountsOnlyForTheLaggard(t *testing.T) {
	const n, queue, batch = 1000, 100, 10
	healthy := newBodyExporter(n)
	hung := newHungExporter()
	p, err := processor.NewWithDestinations([]processor.Destination{
		{Name: "laggard", Exporter: hung},
		{Name: "healthy", Exporter: healthy},
	}, append(quiet(), processor.WithMaxQueueSize(queue), processor.WithExportMaxBatchSize(batch),
		processor.WithExportInterval(time.Hour))...)
	require.NoError(t, err)
	emitted := 0
	for emitted < n {
		for range batch {
			require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(emitted))))
			emitted++
		}
		if emitted == batch {
			<-hung.entered // the laggard holds its first batch
		}
		// Let the healthy destination keep up: wait until it has what was
		// emitted so far (a full batch wakes it at once).
		require.Eventually(t, func() bool { return healthy.received() == emitted }, 5*time.Second, 100*time.Microsecond)
	}
	healthy.waitFull(t, time.Second)
	require.Eventually(t, func() bool { return destination(t, p.Stats(), "healthy").Exported == n }, 3*time.Second, time.Millisecond)
	s := p.Stats()
	invariant(t, s)
	h := destination(t, s, "healthy")
	assert.Equal(t, uint64(n), h.Exported)
	assert.Empty(t, h.Dropped, "the healthy destination lost nothing to the laggard")
	l := destination(t, s, "laggard")
	assert.Equal(t, batch, l.InFlight)
	assert.Equal(t, queue, l.Queued, "the store keeps a full queue for the laggard")
	assert.Equal(t, uint64(n-queue-batch), l.Dropped[processor.DropQueueFull])
	assert.Equal(t, uint64(n-queue-batch), s.Dropped[processor.DropQueueFull])
	assert.Equal(t, queue, s.Queued)
	assert.Equal(t, batch, s.InFlight)

	close(hung.release)
	require.NoError(t, p.Shutdown(context.Background()))
	s = p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(queue+batch), destination(t, s, "laggard").Exported)
	assert.Equal(t, int64(queue+batch), hung.got.Load())
	assert.Equal(t, uint64(queue+batch), s.Exported, "exported by both")
	dups, _ := healthy.duplicates()
	assert.Empty(t, dups)
}

// flakyExporter fails every third call transiently and keeps what it
// accepted.
type flakyExporter struct {
	*bodyExporter
	n atomic.Int64
}

func (e *flakyExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.n.Add(1)%3 == 0 {
		return errors.New("transient")
	}
	return e.bodyExporter.Export(ctx, recs)
}

type slowExporter struct{ *bodyExporter }

func (e slowExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	t := time.NewTimer(200 * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.bodyExporter.Export(ctx, recs)
}

// The accounting identity holds for the store and for every destination
// while 16 goroutines emit and the destinations behave differently, and
// each destination's count agrees with what its exporter received.
func TestDestinationsInvariantUnderConcurrentEmitters(t *testing.T) {
	const goroutines, each = 16, 1500
	fast := newBodyExporter(goroutines * each)
	flaky := &flakyExporter{bodyExporter: newBodyExporter(goroutines * each)}
	slow := slowExporter{newBodyExporter(goroutines * each)}
	p, err := processor.NewWithDestinations([]processor.Destination{
		{Name: "fast", Exporter: fast},
		{Name: "flaky", Exporter: flaky},
		{Name: "slow", Exporter: slow},
	}, append(quiet(), processor.WithMaxQueueSize(256), processor.WithExportMaxBatchSize(32),
		processor.WithRetryBackoff(time.Millisecond, 2*time.Millisecond))...)
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	checked := make(chan int)
	go func() {
		n := 0
		defer func() { checked <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			invariant(t, p.Stats())
			n++
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_ = p.OnEmit(context.Background(), rec(fmt.Sprintf("%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	close(stop)
	assert.Positive(t, <-checked)
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(goroutines*each), s.Received)
	for _, e := range []struct {
		name string
		exp  *bodyExporter
	}{{"fast", fast}, {"flaky", flaky.bodyExporter}, {"slow", slow.bodyExporter}} {
		d := destination(t, s, e.name)
		assert.Equal(t, s.Received, d.Received, "%s: every record is handed to every destination", e.name)
		assert.Equal(t, uint64(e.exp.received()), d.Exported, "%s: Stats and the exporter disagree", e.name)
		dups, _ := e.exp.duplicates()
		assert.Empty(t, dups, "%s received records twice", e.name)
		assert.Zero(t, d.Queued+d.InFlight, e.name)
	}
}

// A backend that stays dead, no breaker: one retry budget for the outage,
// not one per batch. Shutdown with no deadline ends in about one budget,
// and after the budget each batch gets exactly one attempt.
func TestDeadBackendCostsOneRetryBudget(t *testing.T) {
	const budget = 500 * time.Millisecond
	exp := &countingExporter{fail: func() error { return errBackend }}
	p, err := processor.New(exp, append(quiet(), processor.WithRetryMaxElapsed(budget),
		processor.WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond), processor.WithExportInterval(time.Hour))...)
	require.NoError(t, err)
	for i := range 2048 {
		require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(i))))
	}
	start := time.Now()
	within(t, 10*time.Second, "Shutdown against a dead backend", func() {
		require.Error(t, p.Shutdown(context.Background()))
	})
	took := time.Since(start)
	s := p.Stats()
	invariant(t, s)
	d := s.Destinations[0]
	assert.Equal(t, uint64(2048), d.Dropped[processor.DropExportFailed])
	assert.True(t, d.OutageSpent)
	// Four batches of 512: the first used the whole budget (many
	// attempts), each of the other three got one attempt; with a budget
	// per batch Shutdown would take four budgets.
	assert.Less(t, took, 3*budget, "Shutdown took %v: more than one retry budget", took)
	calls := exp.calls.Load()
	assert.GreaterOrEqual(t, calls, int64(3+3), "the first batch is retried within the budget")
	t.Logf("Shutdown against a dead backend: %v, %d export calls", took, calls)
}

func TestRetryBudgetIsPerOutageAndResetBySuccess(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	exp := &countingExporter{fail: func() error {
		if failing.Load() {
			return errBackend
		}
		return nil
	}}
	p, err := processor.New(exp, append(quiet(), processor.WithRetryMaxElapsed(100*time.Millisecond),
		processor.WithRetryBackoff(5*time.Millisecond, 10*time.Millisecond), processor.WithExportInterval(time.Hour))...)
	require.NoError(t, err)
	flush := func() error { return p.ForceFlush(context.Background()) }

	require.NoError(t, p.OnEmit(context.Background(), rec("a")))
	require.Error(t, flush()) // retried until the budget is spent, then dropped
	before := exp.calls.Load()
	assert.Greater(t, before, int64(2), "the first batch of an outage is retried")
	s := p.Stats().Destinations[0]
	assert.True(t, s.OutageSpent)
	assert.Equal(t, uint64(1), s.Dropped[processor.DropExportFailed])

	require.NoError(t, p.OnEmit(context.Background(), rec("b")))
	require.Error(t, flush())
	assert.Equal(t, before+1, exp.calls.Load(), "once the budget is spent a batch gets one attempt")
	assert.Equal(t, uint64(2), p.Stats().Destinations[0].Dropped[processor.DropExportFailed])

	failing.Store(false)
	require.NoError(t, p.OnEmit(context.Background(), rec("c")))
	require.NoError(t, flush())
	s = p.Stats().Destinations[0]
	assert.False(t, s.OutageSpent, "a success ends the outage")
	assert.Equal(t, uint64(1), s.Exported)

	// A new outage has a new budget: its first batch is retried again.
	failing.Store(true)
	require.NoError(t, p.OnEmit(context.Background(), rec("d")))
	mark := exp.calls.Load()
	require.Error(t, flush())
	assert.Greater(t, exp.calls.Load()-mark, int64(1))
	require.NoError(t, p.Shutdown(context.Background()))
	invariant(t, p.Stats())
}

// otlploghttp pointed at a wrong URL path answers 404: the processor
// classifies it as permanent by default, with or without a breaker, and
// drops the batch after one attempt instead of retrying it for a minute.
func TestOTLPNotFoundIsPermanentByDefault(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.NotFound(w, nil)
	}))
	defer srv.Close()
	exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpointURL(srv.URL+"/wrong/path"))
	require.NoError(t, err)
	var reported atomic.Int64
	p, err := processor.New(exp, processor.WithoutDropAlerts(), processor.WithErrorHandler(func(error) { reported.Add(1) }),
		processor.WithExportInterval(time.Hour))
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(i))))
	}
	err = p.ForceFlush(context.Background())
	require.Error(t, err)
	require.True(t, retry.IsPermanent(err), "%v", err)
	assert.Equal(t, int64(1), hits.Load(), "a 404 is not retried")
	assert.Equal(t, int64(1), reported.Load(), "one failure, one report")
	s := p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(10), s.Dropped[processor.DropExportFailed])
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestWithErrorClassifierReplacesTheDefault(t *testing.T) {
	var calls atomic.Int64
	exp := &countingExporter{fail: func() error {
		if calls.Add(1) == 1 {
			return errBackend
		}
		return nil
	}}
	// Everything is permanent: the first failure drops its batch.
	p, err := processor.New(exp, append(quiet(), processor.WithErrorClassifier(retry.Permanent))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("x")))
	require.Error(t, p.ForceFlush(context.Background()))
	assert.Equal(t, int64(1), calls.Load())
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, uint64(1), p.Stats().Dropped[processor.DropExportFailed])

	// A panicking classifier keeps the error as it was (transient here).
	calls.Store(0)
	p, err = processor.New(exp, append(quiet(), processor.WithErrorClassifier(func(error) error { panic("classifier bug") }),
		processor.WithRetryBackoff(time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("y")))
	require.NoError(t, p.ForceFlush(context.Background()), "retried, then exported")
	assert.Equal(t, int64(2), calls.Load())
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestNewWithDestinationsRejectsBadInput(t *testing.T) {
	ok, ok2 := &countingExporter{}, &countingExporter{}
	var typedNil *countingExporter
	for name, tc := range map[string]struct {
		dests []processor.Destination
		want  error
	}{
		"none":             {nil, processor.ErrNilExporter},
		"nil exporter":     {[]processor.Destination{{Exporter: ok}, {Exporter: nil}}, processor.ErrNilExporter},
		"typed nil":        {[]processor.Destination{{Exporter: typedNil}}, processor.ErrNilExporter},
		"duplicate name":   {[]processor.Destination{{Name: "a", Exporter: ok}, {Name: "a", Exporter: ok2}}, processor.ErrInvalidOption},
		"negative timeout": {[]processor.Destination{{Exporter: ok, ExportTimeout: -time.Second}}, processor.ErrInvalidOption},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := processor.NewWithDestinations(tc.dests, quiet()...)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, p)
		})
	}
	// Derived names are made unique, not refused: two members of one type
	// behind breakers report the same Name().
	b1, b2 := breaker.MustNew(breaker.Config{}), breaker.MustNew(breaker.Config{})
	p, err := processor.New(exporter.MustFanout(exporter.MustBreaker(ok, b1), exporter.MustBreaker(ok2, b2)), quiet()...)
	require.NoError(t, err)
	s := p.Stats()
	assert.Equal(t, "*processor_test.countingExporter", s.Destinations[0].Name)
	assert.Equal(t, "*processor_test.countingExporter#1", s.Destinations[1].Name)
	require.NoError(t, p.Shutdown(context.Background()))

	p, err = processor.New(exporter.MustFanout(ok, ok2), quiet()...) // two unnamed members: "0" and "1"
	require.NoError(t, err)
	s = p.Stats()
	assert.Equal(t, "0", s.Destinations[0].Name)
	assert.Equal(t, "1", s.Destinations[1].Name)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestDestinationNamesTimeoutAndBreaker(t *testing.T) {
	deadlines := make(chan time.Duration, 1)
	slow := &countingExporter{latency: time.Hour, deadlines: deadlines}
	b := breaker.MustNew(breaker.Config{Name: "guard", ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	other := newBodyExporter(1)
	p, err := processor.NewWithDestinations([]processor.Destination{
		{Exporter: exporter.Named("named", other)},
		{Exporter: slow, ExportTimeout: 50 * time.Millisecond, Breaker: b},
	}, append(quiet(), processor.WithRetryMaxElapsed(time.Millisecond))...)
	require.NoError(t, err)
	s := p.Stats()
	require.Len(t, s.Destinations, 2)
	assert.Equal(t, "named", s.Destinations[0].Name)
	assert.Equal(t, "1", s.Destinations[1].Name, "an unnamed destination is named by its position")

	require.NoError(t, p.OnEmit(context.Background(), rec("r")))
	err = p.ForceFlush(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `destination "1"`, "errors name the destination")
	left := <-deadlines
	assert.LessOrEqual(t, left, 50*time.Millisecond, "the destination's own export timeout")
	assert.Positive(t, left)
	assert.Equal(t, breaker.Open, b.State(), "the destination's breaker saw the timeout")
	other.waitFull(t, time.Second)
	require.NoError(t, p.Shutdown(context.Background()))
	s = p.Stats()
	invariant(t, s)
	assert.Equal(t, uint64(1), s.Destinations[0].Exported)
	assert.Equal(t, uint64(1), s.Destinations[1].Dropped[processor.DropExportFailed])
}

// ForceFlush flushes the healthy destinations even when one hangs, and
// reports the hung one.
func TestForceFlushWithAHungDestination(t *testing.T) {
	healthy := newBodyExporter(3)
	hung := newHungExporter()
	defer close(hung.release)
	p, err := processor.NewWithDestinations([]processor.Destination{
		{Name: "hung", Exporter: hung, ExportTimeout: 20 * time.Millisecond},
		{Name: "healthy", Exporter: healthy},
	}, append(quiet(), processor.WithExportInterval(time.Hour))...)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, p.OnEmit(context.Background(), rec(strconv.Itoa(i))))
	}
	var ferr error
	within(t, 5*time.Second, "ForceFlush", func() { ferr = p.ForceFlush(context.Background()) })
	require.ErrorIs(t, ferr, processor.ErrExporterHung)
	assert.Contains(t, ferr.Error(), `destination "hung"`)
	assert.Equal(t, 3, healthy.received(), "the healthy destination was flushed")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx)
	invariant(t, p.Stats())
}
