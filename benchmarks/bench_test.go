package benchmarks

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/processor"
)

// parallelisms are the RunParallel settings of BenchmarkOnEmit; 0 is the
// serial loop. SetParallelism(p) runs p×GOMAXPROCS goroutines.
var parallelisms = []int{0, 1, 4, 32}

// shutdownTimeout bounds each processor's Shutdown at the end of a
// sub-benchmark. A do-nothing exporter drains a full default queue in
// microseconds, so reaching it means a processor is broken.
const shutdownTimeout = 30 * time.Second

func parName(p int) string {
	if p == 0 {
		return "serial"
	}
	return strconv.Itoa(p)
}

// start builds the processor impl in front of exp and registers nothing
// else: the caller shuts it down through finish, outside the timed region.
func start(b *testing.B, impl string, exp sdklog.Exporter) *harness.Instance {
	b.Helper()
	p, err := harness.NewProcessor(impl, exp, harness.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// finish stops the timer, shuts the processor down (so no goroutine
// outlives the sub-benchmark) and reports the share of the b.N emitted
// records that never reached the exporter. Shutdown drains the queue, so
// that share is what the processor dropped while the loop ran.
func finish(b *testing.B, shutdown func(context.Context) error, exp *harness.CountingExporter, emitted int) {
	b.Helper()
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		b.Fatalf("shutdown: %v", err)
	}
	if exp == nil || emitted <= 0 {
		return
	}
	exported := exp.Exported()
	var dropped uint64
	if uint64(emitted) > exported {
		dropped = uint64(emitted) - exported
	}
	b.ReportMetric(harness.Pct(dropped, uint64(emitted)), "dropped-%")
}

// BenchmarkOnEmit measures Processor.OnEmit alone: the cost a logging call
// pays inside the processor, with the processor's worker draining to a
// do-nothing exporter on the other cores at the same time.
func BenchmarkOnEmit(b *testing.B) {
	for _, shape := range harness.Shapes() {
		rec := shape.SDKRecord()
		for _, par := range parallelisms {
			for _, impl := range harness.Compared() {
				name := fmt.Sprintf("shape=%s/par=%s/impl=%s", shape.Name, parName(par), impl)
				b.Run(name, func(b *testing.B) { benchOnEmit(b, impl, &rec, par) })
			}
		}
	}
}

func benchOnEmit(b *testing.B, impl string, rec *sdklog.Record, par int) {
	exp := &harness.CountingExporter{}
	emitLoop(b, start(b, impl, exp), exp, rec, par)
}

// emitLoop calls p.OnEmit b.N times with a copy of rec, from par
// goroutines (0: the benchmark's own), then shuts p down and reports the
// records exp did not get as dropped.
func emitLoop(b *testing.B, p sdklog.Processor, exp *harness.CountingExporter, rec *sdklog.Record, par int) {
	ctx := context.Background()
	b.ReportAllocs()
	if par == 0 {
		r := rec.Clone()
		for b.Loop() {
			_ = p.OnEmit(ctx, &r)
		}
	} else {
		b.SetParallelism(par)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine owns its record, as each logging call does.
			r := rec.Clone()
			for pb.Next() {
				_ = p.OnEmit(ctx, &r)
			}
		})
	}
	finish(b, p.Shutdown, exp, b.N)
}

// BenchmarkOnEmitSpool measures Processor.OnEmit with a durable spool
// (processor.WithSpool, in a temporary directory, default options) beside
// the same processor without one, in the same run: the spooler writes
// every record to disk on its own goroutine, and OnEmit must stay within
// 1.5× of its cost without a spool.
func BenchmarkOnEmitSpool(b *testing.B) {
	for _, shape := range harness.Shapes() {
		rec := shape.SDKRecord()
		for _, par := range []int{0, 4} {
			for _, spool := range []bool{false, true} {
				name := fmt.Sprintf("shape=%s/par=%s/spool=%t", shape.Name, parName(par), spool)
				b.Run(name, func(b *testing.B) {
					exp := &harness.CountingExporter{}
					opts := []processor.Option{processor.WithoutDropAlerts()}
					if spool {
						opts = append(opts, processor.WithSpool(b.TempDir()))
					}
					p, err := processor.New(exp, opts...)
					if err != nil {
						b.Fatal(err)
					}
					emitLoop(b, p, exp, &rec, par)
				})
			}
		}
	}
}

// BenchmarkEmit measures the full Logger.Emit path of an SDK
// LoggerProvider. impl=noop gives the cost of everything but the processor.
func BenchmarkEmit(b *testing.B) {
	for _, shape := range harness.Shapes() {
		rec := shape.APIRecord()
		for _, impl := range fullPathImpls() {
			b.Run(fmt.Sprintf("shape=%s/impl=%s", shape.Name, impl), func(b *testing.B) {
				exp := &harness.CountingExporter{}
				lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(start(b, impl, exp)))
				logger := lp.Logger("github.com/steadylog/steadylog/benchmarks")
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					logger.Emit(ctx, rec)
				}
				finish(b, lp.Shutdown, countingFor(impl, exp), b.N)
			})
		}
	}
}

// BenchmarkSlog measures the full path from log/slog through the otelslog
// bridge. impl=noop gives the cost of everything but the processor.
func BenchmarkSlog(b *testing.B) {
	for _, shape := range harness.Shapes() {
		for _, impl := range fullPathImpls() {
			b.Run(fmt.Sprintf("shape=%s/impl=%s", shape.Name, impl), func(b *testing.B) {
				exp := &harness.CountingExporter{}
				lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(start(b, impl, exp)))
				logger := slog.New(otelslog.NewHandler("github.com/steadylog/steadylog/benchmarks",
					otelslog.WithLoggerProvider(lp)))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					shape.Slog(ctx, logger)
				}
				finish(b, lp.Shutdown, countingFor(impl, exp), b.N)
			})
		}
	}
}

// fullPathImpls lists the noop baseline after the two processors, so
// benchstat's first column (its base) stays the SDK.
func fullPathImpls() []string { return append(harness.Compared(), harness.ImplNoop) }

// countingFor returns the exporter whose count tells drops, or nil for the
// noop processor, which never exports.
func countingFor(impl string, exp *harness.CountingExporter) *harness.CountingExporter {
	if impl == harness.ImplNoop {
		return nil
	}
	return exp
}

// Hung-exporter settings of BenchmarkOnEmitHung.
const (
	hungGoroutines = 8
	hungHold       = 2 * time.Second
)

// BenchmarkOnEmitHung measures OnEmit latency from 8 goroutines while every
// Export blocks for 2 s ignoring its context — an endpoint that accepts
// connections and never answers. It reports p50, p99 and p99.9 of single
// OnEmit calls; ns/op is the cost including two clock reads per call.
func BenchmarkOnEmitHung(b *testing.B) {
	rec := mustShape(b, harness.ShapeSmall).SDKRecord()
	for _, impl := range harness.Compared() {
		b.Run("shape=small/impl="+impl, func(b *testing.B) {
			exp := harness.NewHungExporter(hungHold)
			p := start(b, impl, exp)
			ctx := context.Background()
			var (
				mu  sync.Mutex
				all harness.Histogram
			)
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((hungGoroutines + procs - 1) / procs)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rec.Clone()
				h := new(harness.Histogram)
				for pb.Next() {
					t0 := time.Now()
					_ = p.OnEmit(ctx, &r)
					h.Record(time.Since(t0))
				}
				mu.Lock()
				all.Merge(h)
				mu.Unlock()
			})
			b.StopTimer()
			b.ReportMetric(float64(all.Quantile(0.50)), "p50-ns")
			b.ReportMetric(float64(all.Quantile(0.99)), "p99-ns")
			b.ReportMetric(float64(all.Quantile(0.999)), "p99.9-ns")
			// Let the exporter go so Shutdown ends promptly: this benchmark
			// is about OnEmit, not about shutting down against a hung
			// endpoint (cmd/hung measures that).
			exp.Release()
			finish(b, p.Shutdown, nil, 0)
		})
	}
}

func mustShape(tb testing.TB, name string) harness.Shape {
	tb.Helper()
	s, err := harness.ShapeByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
