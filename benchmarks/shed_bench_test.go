package benchmarks

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/processor"
)

// shedCase is one sub-benchmark of BenchmarkShedAtSource.
type shedCase struct {
	name string
	impl string
	// below is the WithShedBelow threshold; 0 is no shedding.
	below log.Severity
}

// shedCases are the sub-benchmarks of BenchmarkShedAtSource. The SDK has no
// shedding, so it is shed=off too: -filter /shed:off -col /impl compares
// the two processors, -filter /impl:steadylog -col /shed the two settings.
var shedCases = []shedCase{
	{name: "shed=off/impl=sdk", impl: harness.ImplSDK},
	{name: "shed=off/impl=steadylog", impl: harness.ImplSteadylog},
	{name: "shed=warn/impl=steadylog", impl: harness.ImplSteadylog, below: log.SeverityWarn},
}

// blockedExporter never returns from Export until Release: an endpoint that
// has stopped answering. Entered is closed when the first Export begins.
type blockedExporter struct {
	harness.CountingExporter
	entered, release         chan struct{}
	enteredOnce, releaseOnce sync.Once
}

func newBlockedExporter() *blockedExporter {
	return &blockedExporter{entered: make(chan struct{}), release: make(chan struct{})}
}

// Export blocks until Release, deliberately ignoring ctx.
func (e *blockedExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	e.enteredOnce.Do(func() { close(e.entered) })
	<-e.release
	return e.CountingExporter.Export(ctx, recs)
}

// Release makes every current and future Export return at once.
func (e *blockedExporter) Release() { e.releaseOnce.Do(func() { close(e.release) }) }

func (e *blockedExporter) hasEntered() bool {
	select {
	case <-e.entered:
		return true
	default:
		return false
	}
}

// overloaded is a log/slog → otelslog → LoggerProvider → processor
// pipeline whose exporter is blocked and whose queue is full.
type overloaded struct {
	logger *slog.Logger
	body   string // the small shape's message
	lp     *sdklog.LoggerProvider
	exp    *blockedExporter
	sl     *processor.Processor // nil for the SDK
}

// overload builds the pipeline of c and fills its queue. The fill uses WARN
// records, which no case sheds, and ends on a condition, not a timer:
//   - steadylog: back-pressure is raised and the queue has overflowed once
//     (a queue_full or byte_limit drop), so every measured call meets a
//     full queue;
//   - SDK, which exposes no queue state: its worker is blocked inside
//     Export, and twice its queue's 2048 records have been emitted since.
//
// sdkQueueSize is the SDK BatchProcessor's default queue size.
const sdkQueueSize = 2048

func overload(tb testing.TB, c shedCase) *overloaded {
	tb.Helper()
	exp := newBlockedExporter()
	inst, err := harness.NewProcessor(c.impl, exp, harness.Config{ShedBelow: c.below})
	if err != nil {
		tb.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(inst))
	o := &overloaded{
		logger: slog.New(otelslog.NewHandler("github.com/steadylog/steadylog/benchmarks",
			otelslog.WithLoggerProvider(lp))),
		body: mustShape(tb, harness.ShapeSmall).Body,
		lp:   lp, exp: exp,
	}
	o.sl, _ = inst.Steadylog()
	if o.sl != nil {
		for {
			s := o.sl.Stats()
			if s.BackPressure && s.Dropped[processor.DropQueueFull]+s.Dropped[processor.DropByteLimit] > 0 {
				break
			}
			o.warn()
		}
		return o
	}
	for !exp.hasEntered() {
		o.warn()
	}
	for range 2 * sdkQueueSize {
		o.warn()
	}
	return o
}

// shed returns the records steadylog has shed so far (0 for the SDK).
func (o *overloaded) shed() uint64 {
	if o.sl == nil {
		return 0
	}
	return o.sl.Stats().Dropped[processor.DropShed]
}

// close releases the exporter and shuts the provider down, so that no
// goroutine outlives the sub-benchmark.
func (o *overloaded) close(tb testing.TB) {
	tb.Helper()
	o.exp.Release()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := o.lp.Shutdown(ctx); err != nil {
		tb.Fatalf("shutdown: %v", err)
	}
}

// info is the measured call: slog's Info with the small shape's message
// and three attributes as key-value pairs.
func (o *overloaded) info() {
	o.logger.Info(o.body, "user.id", "4711", "http.status_code", 200, "cache.hit", true)
}

// warn is the same call at WARN, which no case sheds.
func (o *overloaded) warn() {
	o.logger.Warn(o.body, "user.id", "4711", "http.status_code", 200, "cache.hit", true)
}

// BenchmarkShedAtSource measures an INFO call through log/slog and the
// otelslog bridge while the exporter is blocked and the queue is full
// (back-pressure raised): what an overloaded service pays per log call.
// With shed=warn (processor.WithShedBelow(log.SeverityWarn)) the
// processor's Enabled answers false, so slog returns before building the
// record; with shed=off the record is built and the oldest queued one is
// evicted for it. steadylog cases report shed-%, the share of the measured
// calls that were shed.
func BenchmarkShedAtSource(b *testing.B) {
	for _, c := range shedCases {
		b.Run(c.name, func(b *testing.B) {
			o := overload(b, c)
			before := o.shed()
			b.ReportAllocs()
			for b.Loop() { // b.Loop starts the timer: the fill is not measured
				o.info()
			}
			b.StopTimer()
			if o.sl != nil {
				b.ReportMetric(harness.Pct(o.shed()-before, uint64(b.N)), "shed-%")
			}
			o.close(b)
		})
	}
}
