package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/processor"
)

// Paced-emit settings of BenchmarkEmitSpoolPaced.
const (
	// pacedParallelism × GOMAXPROCS goroutines emit, as a service's
	// request handlers do.
	pacedParallelism = 2
	// pacedBurst records are emitted back to back, then the goroutine
	// sleeps until its next burst is due: a request logs a few lines,
	// and a sleep per record would measure the scheduler's wake-ups.
	pacedBurst = 10
)

// pacedRates are the records per second BenchmarkEmitSpoolPaced emits in
// all: a busy service's logging, which two cores keep up with.
var pacedRates = []int{10_000, 50_000}

// BenchmarkEmitSpoolPaced measures what a service feels of the spool:
// Logger.Emit through an SDK LoggerProvider whose processor is steadylog's
// with defaults and a do-nothing exporter, without and with a spool
// (processor.WithSpool in a temporary directory, default options) in the
// same run, at a fixed rate below saturation, spread over 2×GOMAXPROCS
// goroutines. Each goroutine emits bursts of 10 records on a schedule
// (burst k is due at k×interval) and sleeps only when it is ahead of it.
//
// ns/op is the pacing interval divided by the goroutines, not a cost. The costs are:
//
//   - emit-ns: the mean time of one Logger.Emit call;
//   - onemit-ns: the processor's share of it, the mean time of its OnEmit;
//   - p99-emit-ns: the 99th percentile of Logger.Emit;
//   - cpu-ns/record: the process's CPU time (user+system, getrusage) over
//     the loop divided by the records, the spooler's writes, the
//     exporter's worker and the pacing's sleeps included.
func BenchmarkEmitSpoolPaced(b *testing.B) {
	for _, name := range []string{harness.ShapeSmall, harness.ShapeMedium, harness.ShapeLarge} {
		rec := mustShape(b, name).APIRecord()
		for _, rate := range pacedRates {
			for _, spool := range []bool{false, true} {
				b.Run(fmt.Sprintf("shape=%s/rate=%d/spool=%t", name, rate, spool), func(b *testing.B) {
					benchEmitPaced(b, rec, rate, spool)
				})
			}
		}
	}
}

func benchEmitPaced(b *testing.B, rec log.Record, rate int, spool bool) {
	exp := &harness.CountingExporter{}
	opts := []processor.Option{processor.WithoutDropAlerts()}
	if spool {
		opts = append(opts, processor.WithSpool(b.TempDir()))
	}
	p, err := processor.New(exp, opts...)
	if err != nil {
		b.Fatal(err)
	}
	timed := &timedProcessor{Processor: p}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(timed))
	logger := lp.Logger("github.com/steadylog/steadylog/benchmarks")
	ctx := context.Background()
	goroutines := pacedParallelism * runtime.GOMAXPROCS(0)
	interval := time.Duration(goroutines*pacedBurst) * time.Second / time.Duration(rate)
	var (
		mu  sync.Mutex
		all harness.Histogram
	)
	b.SetParallelism(pacedParallelism)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		h := new(harness.Histogram)
		due := time.Now()
		for i := 0; pb.Next(); i++ {
			if i%pacedBurst == 0 {
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				due = due.Add(interval)
			}
			t0 := time.Now()
			logger.Emit(ctx, rec)
			h.Record(time.Since(t0))
		}
		mu.Lock()
		all.Merge(h)
		mu.Unlock()
	})
	b.StopTimer()
	cpu := processCPU() - cpu0
	if n := all.Count(); n > 0 {
		b.ReportMetric(float64(all.Mean()), "emit-ns")
		b.ReportMetric(float64(timed.total.Load())/float64(n), "onemit-ns")
		b.ReportMetric(float64(all.Quantile(0.99)), "p99-emit-ns")
		b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/record")
	}
	finish(b, lp.Shutdown, exp, b.N)
}

// timedProcessor adds up the time its processor's OnEmit takes: the
// processor's share of Logger.Emit.
type timedProcessor struct {
	sdklog.Processor
	total atomic.Int64 // nanoseconds
}

func (t *timedProcessor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	t0 := time.Now()
	err := t.Processor.OnEmit(ctx, r)
	t.total.Add(int64(time.Since(t0)))
	return err
}

// processCPU returns the process's user and system CPU time so far, in
// nanoseconds, or 0 when it cannot be read.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
