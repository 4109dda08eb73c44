package integration

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

// Outage scenario: records flow at a steady rate while the collector is
// SIGKILLed and restarted after outageDown, outageCycles times.
const (
	outageCycles   = 3
	outageDown     = 3 * time.Second
	outageUp       = 2 * time.Second // streaming before the first kill and after each restart
	outageRate     = 10_000          // records per second
	outageTick     = 10 * time.Millisecond
	outagePerTick  = outageRate * int(outageTick) / int(time.Second)
	outageDeadline = 90 * time.Second
)

// outageResult is what one processor made of the scenario.
type outageResult struct {
	name    string
	emitted int
	file    harness.FileCount
	stats   *processor.Stats // nil for the SDK's BatchProcessor, which has none
	// firstDrops is what steadylog had dropped when the collector came back
	// from the first outage.
	firstDrops uint64
}

func (r outageResult) String() string {
	missing := r.emitted - r.file.Distinct
	s := fmt.Sprintf("%-20s emitted=%d delivered_distinct=%d duplicates=%d missing=%d (%.1f%%) torn_lines=%d",
		r.name, r.emitted, r.file.Distinct, r.file.Duplicates, missing, 100*float64(missing)/float64(max(r.emitted, 1)),
		r.file.TornLines)
	if r.stats != nil {
		s += fmt.Sprintf(" | accounted: %s", r.stats)
	} else {
		s += " | accounted: none (drops are not counted)"
	}
	return s
}

// TestOutageSIGKILL kills the collector mid-stream three times and checks that
// steadylog accounts for every record: each one is in the collector's output or
// counted as dropped with a reason. The SDK's BatchProcessor runs through the
// same scenario for comparison.
func TestOutageSIGKILL(t *testing.T) {
	otelcol := harness.OtelcolBin(t)

	var steady, sdk outageResult
	t.Run("steadylog", func(t *testing.T) {
		errs := &errorCounter{}
		steady = runOutage(t, otelcol, "steadylog processor", func(exp sdklog.Exporter) (sdklog.Processor, func() processor.Stats) {
			p, err := processor.New(exp, processor.WithErrorHandler(errs.handle))
			require.NoError(t, err)
			return p, p.Stats
		})
		t.Logf("processor errors: %s", errs)
		require.NotNil(t, steady.stats)
		st := *steady.stats
		assert.EqualValues(t, steady.emitted, st.Received, "every emitted record reached the processor")
		assert.Equal(t, st.Received, st.Exported+st.TotalDropped()+uint64(st.Queued)+uint64(st.InFlight), "invariant")
		assert.Zero(t, st.Queued, "Shutdown drained the queue")
		assert.Zero(t, st.InFlight)
		assert.GreaterOrEqual(t, uint64(steady.file.Distinct)+st.TotalDropped(), uint64(steady.emitted),
			"every record is in the file or counted as dropped")
		assert.Zero(t, steady.file.WithoutSeq)
		// The default count bound follows the byte budget: 32 MiB hold a
		// 3 s outage at 10,000 records/s (about 30,000 records, 19 MB).
		// Whether the next outages fit too depends on how much of the
		// backlog the 2 s between them drain, which a loaded machine does
		// not: only the first is asserted.
		assert.Zero(t, steady.firstDrops, "the default byte budget holds a 3 s outage")
	})
	t.Run("sdk-batchprocessor", func(t *testing.T) {
		before := sdkErrors.n.Load()
		sdk = runOutage(t, otelcol, "sdk BatchProcessor", func(exp sdklog.Exporter) (sdklog.Processor, func() processor.Stats) {
			return sdklog.NewBatchProcessor(exp), nil
		})
		t.Logf("SDK errors via otel.Handle during the run: %d (%s)", sdkErrors.n.Load()-before, sdkErrors)
		assert.Positive(t, sdk.emitted)
	})
	t.Logf("outage summary (%d x SIGKILL, %v down, %d records/s, otlploghttp, default queue sizes):\n  %s\n  %s",
		outageCycles, outageDown, outageRate, steady, sdk)
}

// outageQueue is large enough for these outages. It must hold more than
// one: OTLP/HTTP delivers about 20,000 records/s here (client and collector
// share 2 cores, under -race), and the collector is up 40% of the time, so
// on average less than the 10,000 records/s offered gets through and the
// backlog grows from one outage to the next. 250,000 records hold the
// whole run.
const outageQueue = 250_000

// TestOutageSIGKILLQueueForOutage runs the same outages with a queue large
// enough to hold one: steadylog keeps every failed batch and delivers it
// after the restart, so nothing is dropped; the SDK's BatchProcessor, with
// the same queue size, still loses every batch whose export failed.
func TestOutageSIGKILLQueueForOutage(t *testing.T) {
	otelcol := harness.OtelcolBin(t)

	var steady, sdk outageResult
	t.Run("steadylog", func(t *testing.T) {
		steady = runOutage(t, otelcol, "steadylog processor", func(exp sdklog.Exporter) (sdklog.Processor, func() processor.Stats) {
			p, err := processor.New(exp,
				processor.WithMaxQueueSize(outageQueue),
				processor.WithMaxQueueBytes(512<<20),
				processor.WithErrorHandler(func(error) {}), // refused connections are the point
				processor.WithoutDropAlerts())
			require.NoError(t, err)
			return p, p.Stats
		})
		require.NotNil(t, steady.stats)
		st := *steady.stats
		assert.EqualValues(t, steady.emitted, st.Received)
		assert.Zero(t, st.TotalDropped(), "a queue that holds the outage drops nothing: %v", st)
		assert.EqualValues(t, steady.emitted, st.Exported)
		assert.Equal(t, steady.emitted, steady.file.Distinct, "every record reached the collector's file")
	})
	t.Run("sdk-batchprocessor", func(t *testing.T) {
		sdk = runOutage(t, otelcol, "sdk BatchProcessor", func(exp sdklog.Exporter) (sdklog.Processor, func() processor.Stats) {
			return sdklog.NewBatchProcessor(exp, sdklog.WithMaxQueueSize(outageQueue)), nil
		})
		assert.Positive(t, sdk.emitted)
	})
	t.Logf("outage summary (%d x SIGKILL, %v down, %d records/s, otlploghttp, queue %d for both):\n  %s\n  %s",
		outageCycles, outageDown, outageRate, outageQueue, steady, sdk)
}

// runOutage streams records through the processor that mk builds while
// killing and restarting the collector, then shuts the pipeline down and
// counts the collector's output. stats, when not nil, is sampled throughout
// and its invariant checked at every sample.
func runOutage(t *testing.T, otelcol, name string,
	mk func(sdklog.Exporter) (sdklog.Processor, func() processor.Stats)) outageResult {
	ctx, cancel := context.WithTimeout(context.Background(), outageDeadline)
	defer cancel()

	col := harness.StartCollector(t, otelcol)
	proc, stats := mk(newOTLPExporter(ctx, t, overHTTP, col))
	logger, provider := newSlog(proc)

	stop := make(chan struct{})
	var emitted atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { emitPaced(ctx, logger, outageTick, outagePerTick, &emitted, stop) })

	var invariantViolations atomic.Int64
	var lastViolation atomic.Value
	if stats != nil {
		wg.Go(func() {
			ticker := time.NewTicker(5 * time.Millisecond)
			defer ticker.Stop()
			for {
				select {
				case <-stop:
					return
				case <-ticker.C:
				}
				st := stats()
				if st.Received != st.Exported+st.TotalDropped()+uint64(st.Queued)+uint64(st.InFlight) {
					invariantViolations.Add(1)
					lastViolation.Store(st.String())
				}
			}
		})
	}

	pause := func(d time.Duration) {
		select {
		case <-time.After(d): // the scenario's timing, not synchronisation
		case <-ctx.Done():
		}
	}
	progress := func() string {
		if stats == nil {
			return ""
		}
		return "; " + stats().String()
	}
	// exportedNow and checkRecovery flag an up-window in which nothing was
	// exported: the pipeline did not recover after the collector came back.
	// Not asserted yet (recovery depends on the retry and breaker work); logged
	// so that a stall is visible in every run.
	exportedNow := func() uint64 {
		if stats == nil {
			return 0
		}
		return stats().Exported
	}
	var stalls int
	checkRecovery := func(cycle int, before uint64) {
		if stats != nil && exportedNow() == before {
			stalls++
			t.Errorf("%s: STALL: nothing exported in the %v after restart %d", name, outageUp, cycle)
			if stalls == 1 {
				t.Logf("%s: processor goroutines at the stall:\n%s", name, goroutinesIn("steadylog/processor"))
			}
		}
	}
	var firstDrops uint64
	pause(outageUp)
	for cycle := 1; cycle <= outageCycles; cycle++ {
		require.NoError(t, col.Kill())
		t.Logf("%s: cycle %d: collector SIGKILLed at %d emitted%s", name, cycle, emitted.Load(), progress())
		pause(outageDown)
		require.NoError(t, col.Start())
		t.Logf("%s: cycle %d: collector back at %d emitted%s", name, cycle, emitted.Load(), progress())
		if cycle == 1 && stats != nil {
			firstDrops = stats().TotalDropped()
		}
		before := exportedNow()
		pause(outageUp)
		checkRecovery(cycle, before)
	}
	t.Logf("%s: stream ends at %d emitted%s", name, emitted.Load(), progress())
	if stalls > 0 {
		t.Logf("%s: WARNING: the pipeline stalled after %d of %d restarts", name, stalls, outageCycles)
	}
	close(stop)
	wg.Wait()
	require.NoError(t, ctx.Err(), "scenario overran its deadline")

	shutdownStart := time.Now()
	err := provider.Shutdown(ctx)
	t.Logf("%s: Shutdown took %v, err=%v", name, time.Since(shutdownStart).Round(time.Millisecond), err)
	require.NoError(t, col.Terminate(), "a graceful stop flushes the file exporter")
	fc, err := col.Count(seqKey)
	require.NoError(t, err)

	res := outageResult{name: name, emitted: int(emitted.Load()), file: fc, firstDrops: firstDrops}
	if stats != nil {
		st := stats()
		res.stats = &st
		assert.Zero(t, invariantViolations.Load(), "Stats invariant broken during the run, e.g. %v", lastViolation.Load())
	}
	t.Logf("%s", res)
	return res
}

// goroutinesIn returns the stacks of the goroutines with a frame in pkg, for
// diagnosing a stalled pipeline from the test log.
func goroutinesIn(pkg string) string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, pkg) {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
