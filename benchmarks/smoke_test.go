package benchmarks

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/processor"
)

// Every benchmark shuts its processor down; goleak proves no worker
// outlives a test or benchmark run of this package.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder keeps what reaches the exporter, so the smoke test can check
// that each benchmark path delivers the shape it claims to measure.
type recorder struct {
	harness.CountingExporter
	bodies []string
	attrs  []int
}

func (r *recorder) Export(ctx context.Context, recs []sdklog.Record) error {
	for i := range recs {
		r.bodies = append(r.bodies, recs[i].Body().AsString())
		r.attrs = append(r.attrs, recs[i].AttributesLen())
	}
	return r.CountingExporter.Export(ctx, recs)
}

// TestBenchmarkPathsDeliverEachShape runs each benchmark's body a few times
// per processor and shape — the paths `go test -bench` measures — and checks
// that the exporter receives exactly the records emitted, intact. Go runs
// no benchmark without -bench; this keeps them honest in a plain test run.
func TestBenchmarkPathsDeliverEachShape(t *testing.T) {
	const n = 10
	ctx := context.Background()
	paths := map[string]func(shape harness.Shape, p sdklog.Processor){
		"onemit": func(shape harness.Shape, p sdklog.Processor) {
			r := shape.SDKRecord()
			for range n {
				require.NoError(t, p.OnEmit(ctx, &r))
			}
		},
		"emit": func(shape harness.Shape, p sdklog.Processor) {
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
			rec := shape.APIRecord()
			for range n {
				lp.Logger("smoke").Emit(ctx, rec)
			}
		},
		"slog": func(shape harness.Shape, p sdklog.Processor) {
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
			logger := slog.New(otelslog.NewHandler("smoke", otelslog.WithLoggerProvider(lp)))
			for range n {
				shape.Slog(ctx, logger)
			}
		},
	}
	for pathName, emit := range paths {
		for _, shape := range harness.Shapes() {
			for _, impl := range harness.Compared() {
				t.Run(pathName+"/"+shape.Name+"/"+impl, func(t *testing.T) {
					exp := &recorder{}
					p, err := harness.NewProcessor(impl, exp, harness.Config{})
					require.NoError(t, err)
					emit(shape, p)
					require.NoError(t, p.Shutdown(ctx))

					require.Len(t, exp.bodies, n)
					assert.Equal(t, uint64(n), exp.Exported())
					for i := range n {
						assert.Equal(t, shape.Body, exp.bodies[i])
						assert.Equal(t, len(shape.Attrs), exp.attrs[i])
					}
				})
			}
		}
	}
}

func TestParName(t *testing.T) {
	assert.Equal(t, "serial", parName(0))
	assert.Equal(t, "32", parName(32))
}

// TestShedAtSourcePath runs BenchmarkShedAtSource's setup and a few
// measured calls per case: the queue is full and, for steadylog,
// back-pressure raised; shed=warn sheds every INFO call and nothing else
// changes the queue; shed=off sheds none. Closing must end every
// goroutine (TestMain's goleak).
func TestShedAtSourcePath(t *testing.T) {
	const n = 100
	for _, c := range shedCases {
		t.Run(c.name, func(t *testing.T) {
			o := overload(t, c)
			defer o.close(t)
			if c.impl == harness.ImplSDK {
				require.Nil(t, o.sl)
				assert.True(t, o.exp.hasEntered(), "the SDK's worker is blocked in Export")
				for range n {
					o.info()
				}
				return
			}
			require.NotNil(t, o.sl)
			before := o.sl.Stats()
			require.True(t, before.BackPressure)
			for range n {
				o.info()
			}
			after := o.sl.Stats()
			assert.True(t, after.BackPressure, "still raised: nothing was exported")
			assert.Equal(t, before.Received+n, after.Received, "each call counted once")
			assert.Zero(t, after.Exported)
			shed := after.Dropped[processor.DropShed] - before.Dropped[processor.DropShed]
			if c.below != 0 {
				assert.Equal(t, uint64(n), shed, "every INFO call shed at the source")
				assert.Equal(t, before.Queued, after.Queued)
				assert.Equal(t, overflowed(before), overflowed(after))
			} else {
				assert.Zero(t, shed)
				// Each call is stored: room comes from evicting the oldest
				// records, or from packing a chunk (the packer may still be
				// at work, or admission packs before it evicts). Whichever
				// it was, every call is in the queue or counted as evicted.
				evicted := int64(overflowed(after) - overflowed(before))
				stored := int64(after.Queued+after.InFlight) - int64(before.Queued+before.InFlight)
				assert.Equal(t, int64(n), evicted+stored, "every call queued, or room made by an eviction")
				assert.Equal(t, after.Received, after.Exported+after.TotalDropped()+uint64(after.Queued+after.InFlight), "received = exported + dropped + queued + in flight")
			}
		})
	}
}

// overflowed counts the records evicted for room: by the count bound or,
// with the default count bound that follows the byte budget, by bytes.
func overflowed(s processor.Stats) uint64 {
	return s.Dropped[processor.DropQueueFull] + s.Dropped[processor.DropByteLimit]
}
