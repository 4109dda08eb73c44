package processor

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/memguard"
)

// blockedWorker returns a processor whose worker is stuck inside Export on
// a first batch of `batch` records ("w0".."wN"), so the test fully
// controls the queue until gate is closed.
func blockedWorker(t *testing.T, batch int, opts ...Option) (*Processor, *recordingExporter, chan struct{}) {
	t.Helper()
	exp := &recordingExporter{entered: make(chan struct{}, 64), gate: make(chan struct{})}
	opts = append([]Option{WithExportMaxBatchSize(batch), WithExportInterval(time.Hour)}, opts...)
	p := newProcessor(t, exp, opts...)
	for i := 0; i < batch; i++ {
		emit(t, p, fmt.Sprintf("w%d", i), log.SeverityInfo)
	}
	<-exp.entered
	s := p.Stats()
	require.Equal(t, batch, s.InFlight)
	require.Zero(t, s.Queued)
	return p, exp, exp.gate
}

func TestNewRejectsBadInput(t *testing.T) {
	exp := &recordingExporter{}
	_, err := New(nil)
	require.ErrorIs(t, err, ErrNilExporter)

	for name, opt := range map[string]Option{
		"queue size":      WithMaxQueueSize(0),
		"queue bytes":     WithMaxQueueBytes(-1),
		"batch size":      WithExportMaxBatchSize(-5),
		"interval":        WithExportInterval(0),
		"interval < 1ms":  WithExportInterval(time.Millisecond - 1),
		"timeout":         WithExportTimeout(-time.Second),
		"severity low":    WithSeverityEviction(0),
		"severity high":   WithSeverityEviction(log.SeverityFatal4 + 1),
		"nil err handler": WithErrorHandler(nil),
		"retry initial":   WithRetryBackoff(0, time.Second),
		"retry max":       WithRetryBackoff(time.Second, time.Millisecond),
		"retry elapsed":   WithRetryMaxElapsed(0),
		"nil option":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(exp, opt)
			require.ErrorIs(t, err, ErrInvalidOption)
			require.Nil(t, p)
		})
	}
}

func TestConfigResolution(t *testing.T) {
	var reported []error
	handler := WithErrorHandler(func(err error) { reported = append(reported, err) })

	t.Run("defaults", func(t *testing.T) {
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, int(DefaultMaxQueueBytes/minPackedBytes), c.maxQueueSize, "the count bound follows the byte budget")
		assert.Equal(t, DefaultMaxQueueBytes, c.maxQueueBytes)
		assert.Equal(t, DefaultExportMaxBatchSize, c.maxBatchSize)
		assert.Equal(t, DefaultExportInterval, c.exportInterval)
		assert.Equal(t, DefaultExportTimeout, c.exportTimeout)
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv(EnvMaxQueueSize, "100")
		t.Setenv(EnvExportMaxBatchSize, "10")
		t.Setenv(EnvExportInterval, "250")
		t.Setenv(EnvExportTimeout, "1500")
		t.Setenv(EnvMaxQueueBytes, "65536")
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, 100, c.maxQueueSize)
		assert.Equal(t, 10, c.maxBatchSize)
		assert.Equal(t, 250*time.Millisecond, c.exportInterval)
		assert.Equal(t, 1500*time.Millisecond, c.exportTimeout)
		assert.Equal(t, int64(65536), c.maxQueueBytes)
	})
	t.Run("option beats environment", func(t *testing.T) {
		t.Setenv(EnvMaxQueueSize, "100")
		c, err := newConfig([]Option{handler, WithMaxQueueSize(7)})
		require.NoError(t, err)
		assert.Equal(t, 7, c.maxQueueSize)
	})
	t.Run("bad environment falls back and is reported once", func(t *testing.T) {
		reported = nil
		t.Setenv(EnvMaxQueueSize, "lots")
		t.Setenv(EnvExportTimeout, "-3")
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, int(DefaultMaxQueueBytes/minPackedBytes), c.maxQueueSize, "the count bound follows the byte budget")
		assert.Equal(t, DefaultExportTimeout, c.exportTimeout)
		require.Len(t, reported, 2)
		assert.Contains(t, reported[0].Error(), EnvMaxQueueSize)
		assert.Contains(t, reported[1].Error(), EnvExportTimeout)
	})
	t.Run("batch clamped to what the budget holds", func(t *testing.T) {
		c, err := newConfig([]Option{handler, WithMaxQueueBytes(10 * slotBytes), WithExportMaxBatchSize(64)})
		require.NoError(t, err)
		assert.Equal(t, 10, c.maxBatchSize)
	})
	t.Run("budget below one record", func(t *testing.T) {
		assert.Equal(t, memguard.RecordSize(&sdklog.Record{}), MinQueueBytes, "MinQueueBytes is the size of an empty record")
		_, err := newConfig([]Option{handler, WithMaxQueueBytes(MinQueueBytes - 1)})
		require.ErrorIs(t, err, ErrInvalidOption)
		require.ErrorContains(t, err, "smallest record")
		reported = nil
		t.Setenv(EnvMaxQueueBytes, "10")
		c, err := newConfig([]Option{handler})
		require.NoError(t, err)
		assert.Equal(t, DefaultMaxQueueBytes, c.maxQueueBytes)
		require.Len(t, reported, 1)
		assert.Contains(t, reported[0].Error(), EnvMaxQueueBytes)
	})
	t.Run("batch clamped to queue", func(t *testing.T) {
		c, err := newConfig([]Option{handler, WithMaxQueueSize(8), WithExportMaxBatchSize(64)})
		require.NoError(t, err)
		assert.Equal(t, 8, c.maxBatchSize)
	})
}

func TestOnEmitKeepsAClone(t *testing.T) {
	p, exp, gate := blockedWorker(t, 1, WithMaxQueueSize(10))
	r := record("original", log.SeverityInfo)
	require.NoError(t, p.OnEmit(context.Background(), r))
	r.SetBody(record("changed by a later processor", 0).Body())
	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, []string{"w0", "original"}, exp.exported())
	shutdownNow(t, p, gate)
}

func TestDropOldestByCount(t *testing.T) {
	p, exp, gate := blockedWorker(t, 4, WithMaxQueueSize(4))
	for i := 0; i < 10; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	s := p.Stats()
	assert.Equal(t, 4, s.Queued)
	assert.Equal(t, map[DropReason]uint64{DropQueueFull: 6}, s.Dropped)
	requireInvariant(t, s)

	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, []string{"w0", "w1", "w2", "w3", "6", "7", "8", "9"}, exp.exported())
	s = p.Stats()
	assert.Equal(t, uint64(8), s.Exported)
	requireInvariant(t, s)
	shutdownNow(t, p, gate)
}

func TestDropOldestByBytes(t *testing.T) {
	size := memguard.RecordSize(record("0", log.SeverityInfo))
	// Room for exactly four records by bytes, ten by count; the budget
	// covers the one in flight too, which leaves three for the queue.
	p, exp, gate := blockedWorker(t, 1, WithMaxQueueSize(10), WithMaxQueueBytes(4*size))
	for i := 0; i < 5; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	s := p.Stats()
	assert.Equal(t, 3, s.Queued)
	assert.Equal(t, 3*size, s.QueuedBytes)
	assert.Equal(t, size, s.InFlightBytes)
	assert.Equal(t, map[DropReason]uint64{DropByteLimit: 2}, s.Dropped)
	requireInvariant(t, s)

	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, []string{"w0", "2", "3", "4"}, exp.exported())
	assert.Zero(t, p.Stats().InFlightBytes)
	shutdownNow(t, p, gate)
}

// TestInFlightBatchHoldsTheBudget: while a batch that fills the budget is
// being exported, nothing more fits; newcomers are dropped, not queued
// beyond the budget.
func TestInFlightBatchHoldsTheBudget(t *testing.T) {
	size := memguard.RecordSize(record("w0", log.SeverityInfo))
	p, _, gate := blockedWorker(t, 1, WithMaxQueueSize(10), WithMaxQueueBytes(size))
	emit(t, p, "w1", log.SeverityInfo)
	s := p.Stats()
	assert.Zero(t, s.Queued)
	assert.Equal(t, size, s.InFlightBytes)
	assert.Equal(t, map[DropReason]uint64{DropByteLimit: 1}, s.Dropped)
	requireInvariant(t, s)
	shutdownNow(t, p, gate)
}

func TestRecordLargerThanBudgetIsDroppedAlone(t *testing.T) {
	size := memguard.RecordSize(record("0", log.SeverityInfo))
	p, exp, gate := blockedWorker(t, 1, WithMaxQueueSize(10), WithMaxQueueBytes(3*size))
	emit(t, p, "0", log.SeverityInfo)
	emit(t, p, "1", log.SeverityInfo)
	huge := string(make([]byte, 4*size))
	emit(t, p, huge, log.SeverityInfo)
	s := p.Stats()
	assert.Equal(t, 2, s.Queued, "a too-large record must evict nothing")
	assert.Equal(t, map[DropReason]uint64{DropRecordTooLarge: 1}, s.Dropped)
	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, []string{"w0", "0", "1"}, exp.exported())
	shutdownNow(t, p, gate)
}

func TestSeverityEviction(t *testing.T) {
	const (
		info = log.SeverityInfo
		warn = log.SeverityWarn
		errS = log.SeverityError
	)
	p, exp, gate := blockedWorker(t, 4, WithMaxQueueSize(4), WithSeverityEviction(warn))
	emit(t, p, "i1", info)
	emit(t, p, "e1", errS)
	emit(t, p, "i2", info)
	emit(t, p, "e2", errS)
	// Full. An error evicts the oldest record below warn: i1.
	emit(t, p, "e3", errS)
	// An info evicts the next one below warn: i2.
	emit(t, p, "i3", info)
	// Queue: e1 e2 e3 i3. Another error evicts i3, the only low one left.
	emit(t, p, "e4", errS)
	// Queue: e1 e2 e3 e4. An info is the only candidate below warn: it is
	// the one dropped.
	emit(t, p, "i4", info)
	// All at or above the threshold: the oldest overall goes (e1).
	emit(t, p, "W1", warn)

	s := p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropQueueFull: 5}, s.Dropped)
	requireInvariant(t, s)
	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, []string{"w0", "w1", "w2", "w3", "e2", "e3", "e4", "W1"}, exp.exported(),
		"export order must stay arrival order")
	shutdownNow(t, p, gate)
}

func TestSeverityEvictionSkipsTombstonesAcrossChunks(t *testing.T) {
	// Batch 2 makes chunks of two, so evictions from the middle leave
	// tombstones in several chunks that detach must compact.
	p, exp, gate := blockedWorker(t, 2, WithMaxQueueSize(6), WithSeverityEviction(log.SeverityWarn))
	for _, b := range []string{"E1", "i1", "E2", "i2", "E3", "i3"} {
		sev := log.SeverityError
		if b[0] == 'i' {
			sev = log.SeverityInfo
		}
		emit(t, p, b, sev)
	}
	emit(t, p, "E4", log.SeverityError) // evicts i1
	emit(t, p, "E5", log.SeverityError) // evicts i2
	close(gate)
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Equal(t, []string{"w0", "w1", "E1", "E2", "E3", "i3", "E4", "E5"}, exp.exported())
	requireInvariant(t, p.Stats())
	shutdownNow(t, p, gate)
}

func TestExportStartsOnFullBatch(t *testing.T) {
	exp := &recordingExporter{entered: make(chan struct{}, 1)}
	p := newProcessor(t, exp, WithExportMaxBatchSize(10), WithExportInterval(time.Hour))
	for i := 0; i < 9; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	select {
	case <-exp.entered:
		t.Fatal("exported before a batch was full or the interval passed")
	default:
	}
	emit(t, p, "9", log.SeverityInfo)
	select {
	case <-exp.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("a full batch did not start an export")
	}
	shutdownNow(t, p, nil)
	assert.Equal(t, []int{10}, exp.batches)
}

func TestExportStartsOnInterval(t *testing.T) {
	exp := &recordingExporter{entered: make(chan struct{}, 1)}
	p := newProcessor(t, exp, WithExportMaxBatchSize(100), WithExportInterval(10*time.Millisecond))
	emit(t, p, "lonely", log.SeverityInfo)
	select {
	case <-exp.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the interval did not start an export")
	}
	shutdownNow(t, p, nil)
	assert.Equal(t, []string{"lonely"}, exp.exported())
}

func TestFailedAndPanickingExportsAreCounted(t *testing.T) {
	for name, exp := range map[string]*recordingExporter{
		"error": {fail: errBackend},
		"panic": {panicV: "boom"},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var errs []error
			p := newProcessor(t, exp, WithExportMaxBatchSize(5), WithoutRetry(), WithErrorHandler(func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}))
			for i := 0; i < 12; i++ {
				emit(t, p, strconv.Itoa(i), log.SeverityInfo)
			}
			err := p.ForceFlush(context.Background())
			require.Error(t, err)
			s := p.Stats()
			assert.Equal(t, map[DropReason]uint64{DropExportFailed: 12}, s.Dropped)
			requireInvariant(t, s)
			mu.Lock()
			assert.NotEmpty(t, errs)
			mu.Unlock()
			// The worker survived: it still serves flushes and shutdown.
			require.NoError(t, p.Shutdown(context.Background()))
			assert.Equal(t, int64(1), exp.shutdowns.Load())
		})
	}
}

func TestForceFlush(t *testing.T) {
	exp := &recordingExporter{}
	p := newProcessor(t, exp, WithExportInterval(time.Hour))
	for i := 0; i < 1500; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	require.NoError(t, p.ForceFlush(context.Background()))
	assert.Len(t, exp.exported(), 1500)
	assert.Equal(t, int64(1), exp.flushes.Load(), "ForceFlush must flush the exporter too")
	require.NoError(t, p.ForceFlush(context.Background()), "an empty flush succeeds")
	shutdownNow(t, p, nil)
}

func TestForceFlushHonoursContext(t *testing.T) {
	p, _, gate := blockedWorker(t, 1)
	emit(t, p, "stuck", log.SeverityInfo)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.ForceFlush(ctx), context.DeadlineExceeded)
	shutdownNow(t, p, gate)
	assert.Equal(t, uint64(2), p.Stats().Exported, "records outlive an abandoned flush")
}

func TestShutdown(t *testing.T) {
	exp := &recordingExporter{}
	p := newProcessor(t, exp, WithExportInterval(time.Hour))
	for i := 0; i < 700; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Len(t, exp.exported(), 700)
	assert.Equal(t, int64(1), exp.flushes.Load())
	assert.Equal(t, int64(1), exp.shutdowns.Load())

	require.NoError(t, p.Shutdown(context.Background()), "a second Shutdown is a no-op")
	assert.Equal(t, int64(1), exp.shutdowns.Load())

	emit(t, p, "late", log.SeverityInfo)
	s := p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropAlreadyShutdown: 1}, s.Dropped)
	requireInvariant(t, s)
	require.NoError(t, p.ForceFlush(context.Background()), "flushing a shut-down processor is a no-op")
}

func TestShutdownDeadlineWithHungExporter(t *testing.T) {
	p, _, gate := blockedWorker(t, 3)
	for i := 0; i < 5; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	const deadline = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := p.Shutdown(ctx)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// The exporter ignores its context; Shutdown must not wait for it.
	assert.Less(t, elapsed, deadline+time.Second, "Shutdown returned %v after a %v deadline", elapsed, deadline)

	s := p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropShutdown: 8}, s.Dropped, "3 in flight + 5 queued")
	assert.Zero(t, s.InFlight)
	requireInvariant(t, s)

	close(gate) // the hung export returns late; its result must be ignored
	waitWorkers(p)
	s = p.Stats()
	assert.Equal(t, uint64(0), s.Exported)
	requireInvariant(t, s)
}

func TestShutdownWithEndedContextDropsQueue(t *testing.T) {
	exp := &recordingExporter{}
	p := newProcessor(t, exp, WithExportInterval(time.Hour))
	for i := 0; i < 100; i++ {
		emit(t, p, strconv.Itoa(i), log.SeverityInfo)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	waitWorkers(p)
	s := p.Stats()
	assert.Equal(t, map[DropReason]uint64{DropShutdown: 100}, s.Dropped)
	assert.Empty(t, exp.exported())
	requireInvariant(t, s)
}

// TestInvariantUnderLoad drives 16 emitting goroutines against slow,
// failing and hung exporters while another goroutine checks the
// accounting identity on live snapshots.
func TestInvariantUnderLoad(t *testing.T) {
	kinds := map[string]func() sdklog.Exporter{
		"slow":      func() sdklog.Exporter { return &slowExporter{delay: time.Millisecond} },
		"failing":   func() sdklog.Exporter { return &recordingExporter{fail: errBackend} },
		"panicking": func() sdklog.Exporter { return &recordingExporter{panicV: "boom"} },
		"hung":      func() sdklog.Exporter { return &recordingExporter{gate: make(chan struct{})} },
	}
	for name, mk := range kinds {
		t.Run(name, func(t *testing.T) {
			exp := mk()
			p := newProcessor(t, exp, WithMaxQueueSize(256), WithExportMaxBatchSize(32),
				WithExportInterval(time.Millisecond), WithErrorHandler(func(error) {}),
				WithRetryBackoff(time.Millisecond, 5*time.Millisecond))
			const goroutines, perG = 16, 2000
			stopCheck := make(chan struct{})
			checked := make(chan int)
			go func() {
				n := 0
				for {
					select {
					case <-stopCheck:
						checked <- n
						return
					default:
						requireInvariant(t, p.Stats())
						n++
					}
				}
			}()
			var wg sync.WaitGroup
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < perG; i++ {
						sev := log.SeverityInfo
						if i%7 == 0 {
							sev = log.SeverityError
						}
						_ = p.OnEmit(context.Background(), record("x", sev))
					}
				}()
			}
			wg.Wait()
			close(stopCheck)
			assert.Positive(t, <-checked)

			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_ = p.Shutdown(ctx)
			if re, ok := exp.(*recordingExporter); ok && re.gate != nil {
				close(re.gate)
			}
			waitWorkers(p)
			s := p.Stats()
			requireInvariant(t, s)
			assert.Equal(t, uint64(goroutines*perG), s.Received)
			assert.Zero(t, s.Queued)
			assert.Zero(t, s.InFlight)
			if re, ok := exp.(*recordingExporter); ok {
				assert.False(t, re.overlap.Load(), "Export was called concurrently with itself")
			}
		})
	}
}

type slowExporter struct {
	delay time.Duration
	mu    sync.Mutex
	n     int
}

func (e *slowExporter) Export(_ context.Context, recs []sdklog.Record) error {
	time.Sleep(e.delay) // simulates a slow backend; not synchronisation
	e.mu.Lock()
	e.n += len(recs)
	e.mu.Unlock()
	return nil
}
func (e *slowExporter) ForceFlush(context.Context) error { return nil }
func (e *slowExporter) Shutdown(context.Context) error   { return nil }
