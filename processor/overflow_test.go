package processor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

func TestOverflowOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"block 0":          WithOverflow(Block(0)),
		"block negative":   WithOverflow(Block(-time.Second)),
		"from block 0":     WithOverflowFrom(log.SeverityWarn, Block(0)),
		"from severity 0":  WithOverflowFrom(0, DropNewest()),
		"from severity 99": WithOverflowFrom(99, DropNewest()),
		"unknown policy":   WithOverflow(OverflowPolicy{kind: 42}),
	} {
		_, err := New(&recordingExporter{}, opt)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}
	c, err := newConfig([]Option{WithOverflow(DropNewest()), WithOverflowFrom(log.SeverityWarn, Block(time.Second))})
	require.NoError(t, err)
	assert.Equal(t, DropNewest(), c.policyFor(log.SeverityInfo))
	assert.Equal(t, DropNewest(), c.policyFor(0))
	assert.Equal(t, Block(time.Second), c.policyFor(log.SeverityWarn))
	assert.Equal(t, Block(time.Second), c.policyFor(log.SeverityFatal4))
	assert.Equal(t, "block(1s)", Block(time.Second).String())
	assert.Equal(t, "drop_oldest", OverflowPolicy{}.String())
}

func TestOverflowEnvironment(t *testing.T) {
	var reported []error
	handler := WithErrorHandler(func(err error) { reported = append(reported, err) })
	for value, want := range map[string]OverflowPolicy{
		"":            DropOldest(),
		"drop":        DropOldest(),
		"DROP_OLDEST": DropOldest(),
		"drop_newest": DropNewest(),
		" Block ":     Block(DefaultBlockTimeout),
	} {
		t.Setenv(EnvOnQueueFull, value)
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, want, c.overflow, "%q", value)
	}
	t.Setenv(EnvOnQueueFull, "block")
	t.Setenv(EnvBlockTimeout, "250")
	c, err := newConfig([]Option{handler})
	require.NoError(t, err)
	assert.Equal(t, Block(250*time.Millisecond), c.overflow)
	c, err = newConfig([]Option{handler, WithOverflow(DropNewest())})
	require.NoError(t, err)
	assert.Equal(t, DropNewest(), c.overflow, "an option beats the environment")
	require.Empty(t, reported)

	t.Setenv(EnvOnQueueFull, "wait")
	c, err = newConfig([]Option{handler})
	require.NoError(t, err)
	assert.Equal(t, DropOldest(), c.overflow)
	require.Len(t, reported, 1)
	assert.Contains(t, reported[0].Error(), EnvOnQueueFull)
	assert.Contains(t, reported[0].Error(), `"wait"`)
}

// DropNewest keeps the oldest records, in order, and refuses the newest.
func TestDropNewestKeepsTheOldest(t *testing.T) {
	p, exp, gate := blockedWorker(t, 4, WithMaxQueueSize(4), WithOverflow(DropNewest()))
	for i := range 8 {
		emit(t, p, fmt.Sprint(i), log.SeverityInfo)
	}
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(4), s.Dropped[DropQueueFull])
	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	require.Equal(t, []string{"w0", "w1", "w2", "w3", "0", "1", "2", "3"}, exp.exported())
	shutdownNow(t, p, nil)
}

// blockedEmit starts OnEmit on its own goroutine and returns a channel
// that is closed when it returns.
func blockedEmit(ctx context.Context, p *Processor, body string, sev log.Severity) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.OnEmit(ctx, record(body, sev))
	}()
	return done
}

func waitWaiting(t *testing.T, p *Processor, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return p.Stats().Waiting == n }, 5*time.Second, time.Millisecond)
}

func TestBlockWaitsForRoomAndLosesNothing(t *testing.T) {
	p, exp, gate := blockedWorker(t, 2, WithMaxQueueSize(2), WithOverflow(Block(10*time.Second)))
	emit(t, p, "a", log.SeverityInfo)
	emit(t, p, "b", log.SeverityInfo) // the queue is full now
	done := blockedEmit(context.Background(), p, "c", log.SeverityInfo)
	waitWaiting(t, p, 1)
	s := p.Stats()
	requireInvariant(t, s) // the waiting record is not received yet
	require.Equal(t, uint64(4), s.Received)
	select {
	case <-done:
		t.Fatal("OnEmit returned while the queue was full")
	default:
	}
	close(gate) // the export ends, the worker detaches a and b: room
	<-done
	require.NoError(t, p.ForceFlush(context.Background()))
	require.Equal(t, []string{"w0", "w1", "a", "b", "c"}, exp.exported())
	shutdownNow(t, p, nil)
	s = p.Stats()
	requireInvariant(t, s)
	require.Zero(t, s.TotalDropped())
}

func TestBlockGivesUp(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1), WithOverflow(Block(30*time.Millisecond)))
		emit(t, p, "a", log.SeverityInfo)
		start := time.Now()
		emit(t, p, "b", log.SeverityInfo)
		require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
		s := p.Stats()
		requireInvariant(t, s)
		require.Equal(t, uint64(1), s.Dropped[DropBlockTimeout])
		require.Zero(t, s.Waiting)
		shutdownNow(t, p, gate)
	})
	t.Run("cancelled context", func(t *testing.T) {
		p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1), WithOverflow(Block(time.Hour)))
		emit(t, p, "a", log.SeverityInfo)
		ctx, cancel := context.WithCancel(context.Background())
		done := blockedEmit(ctx, p, "b", log.SeverityInfo)
		waitWaiting(t, p, 1)
		cancel()
		<-done
		s := p.Stats()
		requireInvariant(t, s)
		require.Equal(t, uint64(1), s.Dropped[DropBlockTimeout])
		shutdownNow(t, p, gate)
	})
	t.Run("shutdown", func(t *testing.T) {
		p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1), WithOverflow(Block(time.Hour)))
		emit(t, p, "a", log.SeverityInfo)
		done := blockedEmit(context.Background(), p, "b", log.SeverityInfo)
		waitWaiting(t, p, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_ = p.Shutdown(ctx) // the worker is stuck: Shutdown gives up at its deadline
		<-done
		s := p.Stats()
		requireInvariant(t, s)
		require.Equal(t, uint64(1), s.Dropped[DropAlreadyShutdown])
		close(gate)
		waitWorkers(p)
	})
}

// selfLoggingExporter logs through the processor it exports for while the
// queue is full: on the worker's own goroutine, and from a goroutine it
// starts and waits for, with the context it was given — the way an
// exporter logs its own trouble through the global slog default that
// otelslog feeds.
type selfLoggingExporter struct {
	p        atomic.Pointer[Processor]
	full     chan struct{} // closed by the test once the queue is full
	calls    atomic.Int64
	exported atomic.Int64
}

func (e *selfLoggingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.calls.Add(1) == 1 {
		<-e.full
		p := e.p.Load()
		_ = p.OnEmit(context.Background(), record("from the worker goroutine", log.SeverityWarn))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.OnEmit(ctx, record("from a goroutine the exporter waits for", log.SeverityWarn))
		}()
		wg.Wait()
	}
	e.exported.Add(int64(len(recs)))
	return nil
}
func (e *selfLoggingExporter) ForceFlush(context.Context) error { return nil }
func (e *selfLoggingExporter) Shutdown(context.Context) error   { return nil }

func TestBlockDoesNotDeadlockOnItsOwnWorker(t *testing.T) {
	exp := &selfLoggingExporter{full: make(chan struct{})}
	p := newProcessor(t, exp, WithMaxQueueSize(2), WithExportMaxBatchSize(2), WithExportInterval(time.Hour),
		WithOverflow(Block(time.Hour)), WithoutDropAlerts())
	exp.p.Store(p)
	// A full batch goes out; its export logs only once two more records
	// fill the queue again, so its own records find no room.
	emit(t, p, "0", log.SeverityInfo)
	emit(t, p, "1", log.SeverityInfo)
	require.Eventually(t, func() bool { return p.Stats().InFlight == 2 }, 5*time.Second, time.Millisecond)
	emit(t, p, "2", log.SeverityInfo)
	emit(t, p, "3", log.SeverityInfo)
	require.Equal(t, 2, p.Stats().Queued)
	close(exp.full)
	done := make(chan error, 1)
	go func() { done <- p.ForceFlush(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the exporter's own log call deadlocked the pipeline")
	}
	require.NoError(t, p.Shutdown(context.Background()))
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(6), s.Received)
	require.Equal(t, uint64(4), s.Exported, "%v", s)
	require.Equal(t, uint64(2), s.Dropped[DropQueueFull], "the exporter's own records are refused, not waited for: %v", s)
}

func TestOverflowFromSeverity(t *testing.T) {
	p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1), WithOverflow(DropNewest()),
		WithOverflowFrom(log.SeverityWarn, Block(time.Hour)))
	emit(t, p, "a", log.SeverityInfo) // fills the queue
	emit(t, p, "info", log.SeverityInfo)
	require.Equal(t, uint64(1), p.Stats().Dropped[DropQueueFull], "INFO is refused at once")
	done := blockedEmit(context.Background(), p, "warn", log.SeverityWarn)
	waitWaiting(t, p, 1)
	close(gate)
	<-done
	require.NoError(t, p.ForceFlush(context.Background()))
	shutdownNow(t, p, nil)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(3), s.Exported, "w0, a and warn: %v", s)
	require.Equal(t, uint64(1), s.Dropped[DropQueueFull], "info: %v", s)
}

// Every policy keeps the accounting exact under 16 emitting goroutines,
// and Block with an exporter that keeps up on average loses nothing.
func TestOverflowPoliciesUnderLoad(t *testing.T) {
	for _, pol := range []OverflowPolicy{DropOldest(), DropNewest(), Block(10 * time.Second)} {
		t.Run(pol.String(), func(t *testing.T) {
			exp := &countingSlowExporter{delay: 200 * time.Microsecond}
			p := newProcessor(t, exp, WithMaxQueueSize(64), WithExportMaxBatchSize(16), WithExportInterval(time.Millisecond),
				WithOverflow(pol), WithoutDropAlerts())
			const goroutines, each = 16, 500
			var wg sync.WaitGroup
			stop := make(chan struct{})
			checked := make(chan struct{})
			go func() {
				defer close(checked)
				for {
					select {
					case <-stop:
						return
					default:
						requireInvariant(t, p.Stats())
					}
				}
			}()
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						_ = p.OnEmit(context.Background(), record(fmt.Sprint(g, i), log.SeverityInfo))
					}
				}()
			}
			wg.Wait()
			close(stop)
			<-checked
			require.NoError(t, p.Shutdown(context.Background()))
			s := p.Stats()
			requireInvariant(t, s)
			require.Equal(t, uint64(goroutines*each), s.Received)
			require.Equal(t, s.Exported, uint64(exp.n.Load()))
			if pol.kind == overflowBlock {
				require.Zero(t, s.TotalDropped(), "%v", s)
			}
		})
	}
}

type countingSlowExporter struct {
	delay time.Duration
	n     atomic.Int64
}

func (e *countingSlowExporter) Export(_ context.Context, recs []sdklog.Record) error {
	time.Sleep(e.delay) // a backend's latency, not a synchronisation
	e.n.Add(int64(len(recs)))
	return nil
}
func (e *countingSlowExporter) ForceFlush(context.Context) error { return nil }
func (e *countingSlowExporter) Shutdown(context.Context) error   { return nil }

// BenchmarkOnEmitOverflow shows that the policy costs nothing while the
// queue has room: the same OnEmit for each policy, with a queue that never
// fills.
func BenchmarkOnEmitOverflow(b *testing.B) {
	for _, pol := range []OverflowPolicy{DropOldest(), DropNewest(), Block(time.Second)} {
		b.Run("policy="+pol.String(), func(b *testing.B) {
			p, err := New(discardExporter{}, WithOverflow(pol), WithMaxQueueSize(1<<20), WithExportMaxBatchSize(512),
				WithoutDropAlerts())
			require.NoError(b, err)
			r := record("benchmark record body of ordinary length", log.SeverityInfo)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_ = p.OnEmit(ctx, r)
			}
			b.StopTimer()
			s := p.Stats()
			b.ReportMetric(float64(s.TotalDropped())/float64(max(s.Received, 1))*100, "dropped-%")
			require.NoError(b, p.Shutdown(context.Background()))
		})
	}
}

type discardExporter struct{}

func (discardExporter) Export(context.Context, []sdklog.Record) error { return nil }
func (discardExporter) ForceFlush(context.Context) error              { return nil }
func (discardExporter) Shutdown(context.Context) error                { return nil }

func TestEnvQueueBytesUnits(t *testing.T) {
	var reported []error
	handler := WithErrorHandler(func(err error) { reported = append(reported, err) })
	for value, want := range map[string]int64{
		"64MiB": 64 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "64Mi": 64 << 20, "67108864": 64 << 20,
		" 8 mib ": 8 << 20, "64MB": 64_000_000,
	} {
		t.Setenv(EnvMaxQueueBytes, value)
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, want, c.maxQueueBytes, "%q", value)
	}
	require.Empty(t, reported)
	for _, value := range []string{"64XB", "1.5GiB", "-1", "10", "9999999TiB"} {
		reported = nil
		t.Setenv(EnvMaxQueueBytes, value)
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, DefaultMaxQueueBytes, c.maxQueueBytes, "%q", value)
		require.Len(t, reported, 1, "%q", value)
		msg := reported[0].Error()
		assert.Contains(t, msg, EnvMaxQueueBytes)
		assert.Contains(t, msg, fmt.Sprintf("%q", value))
		assert.Contains(t, msg, "using the default 32MiB")
	}
}

func TestMetricsBlockTimeout(t *testing.T) {
	mp, reader := newMeterProvider(t)
	p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(1), WithOverflow(Block(time.Millisecond)), WithMeterProvider(mp))
	emit(t, p, "a", log.SeverityInfo)
	emit(t, p, "b", log.SeverityInfo) // waits 1ms, then dropped
	processed, _ := points(t, reader, "otel.sdk.processor.log.processed")
	assert.Equal(t, int64(1), processed[string(DropBlockTimeout)])
	shutdownNow(t, p, gate)
}
