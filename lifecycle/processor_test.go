package lifecycle_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
)

const steadyRecords = 100

// The processor reports what it counts and what it leaves in its spool.
var (
	_ lifecycle.RecordCounter = (*processor.Processor)(nil)
	_ lifecycle.LeftCounter   = (*processor.Processor)(nil)
)

// newSteadyPipeline is a LoggerProvider with steadylog's processor, batches
// of 10 and no timed export, holding steadyRecords records.
func newSteadyPipeline(t *testing.T, kind exporterKind) (*sdklog.LoggerProvider, *processor.Processor, *testExporter) {
	exp := newTestExporter(t, kind)
	p, err := processor.New(exp,
		processor.WithMaxQueueSize(10*steadyRecords),
		processor.WithExportMaxBatchSize(10),
		processor.WithExportInterval(time.Hour),
		processor.WithErrorHandler(func(error) {}))
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	emitN(lp, steadyRecords)
	return lp, p, exp
}

// TestSteadylogProcessor runs every strategy against steadylog's processor
// with a fast, a slow and a hung exporter, the component being either the
// processor alone or Group(provider, processor). The processor counts what it
// loses, so the counts are asserted exactly: every record is exported or
// counted as dropped by shutdown, and the report's counts are the processor's.
// On the system clock: the processor, its exporter and the provider time their work on it, not on lifecycle's.
func TestSteadylogProcessor(t *testing.T) {
	type tc struct {
		strategy lifecycle.Strategy
		kind     exporterKind
		deadline time.Duration
		allOut   bool // every record must be exported and err nil
	}
	cases := []tc{
		{lifecycle.Immediate, fastExporter, roomyDeadline, false},
		{lifecycle.Immediate, slowExporter, roomyDeadline, false},
		{lifecycle.Immediate, hungExporter, roomyDeadline, false},
		{lifecycle.Flush, fastExporter, roomyDeadline, true},
		{lifecycle.Flush, slowExporter, roomyDeadline, true},
		{lifecycle.Flush, slowExporter, 200 * time.Millisecond, false},
		{lifecycle.Flush, hungExporter, 200 * time.Millisecond, false},
		{lifecycle.Graceful, fastExporter, roomyDeadline, true},
		{lifecycle.Graceful, slowExporter, roomyDeadline, true},
		{lifecycle.Graceful, slowExporter, 200 * time.Millisecond, false},
		{lifecycle.Graceful, hungExporter, 200 * time.Millisecond, false},
	}
	for _, shape := range []string{"processor", "provider+processor"} {
		for _, c := range cases {
			t.Run(shape+"/"+c.strategy.String()+"/"+c.kind.String()+"/"+c.deadline.String(), func(t *testing.T) {
				lp, p, exp := newSteadyPipeline(t, c.kind)
				var comp lifecycle.Component = p
				if shape == "provider+processor" {
					comp = lifecycle.Group(lp, p)
				}
				if c.kind == hungExporter {
					<-exp.entered // one batch in flight, stuck; the rest queued
				}
				start := time.Now()
				r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, c.deadline), c.strategy, lifecycle.Named("logs", comp))
				took := time.Since(start)
				st := p.Stats()
				t.Logf("steadylog processor (%s), %s, %s exporter, deadline %v: %v; exported %d, dropped %v; err=%v",
					shape, c.strategy, c.kind, c.deadline, took, st.Exported, st.Dropped, err)

				// Exact accounting, whatever the case: nothing left, nothing
				// lost without a count, and only the shutdown reason.
				require.Len(t, r.Components, 1)
				cr := r.Components[0]
				assert.Equal(t, uint64(steadyRecords), st.Received)
				assert.Zero(t, st.Queued)
				assert.Zero(t, st.InFlight)
				assert.Equal(t, uint64(steadyRecords), st.Exported+st.Dropped[processor.DropShutdown])
				assert.Equal(t, st.Dropped[processor.DropShutdown], st.TotalDropped())
				assert.True(t, cr.HasCounts)
				assert.Equal(t, st.Dropped[processor.DropShutdown], cr.Dropped, "every drop happened during the shutdown")
				assert.LessOrEqual(t, cr.Exported, st.Exported)
				assert.False(t, cr.Abandoned, "the processor honours its context")

				switch {
				case c.strategy == lifecycle.Immediate:
					assert.Less(t, took, immediateLimit)
					assert.NoError(t, err)
					if c.kind == hungExporter {
						assert.Zero(t, cr.Exported, "Immediate exports nothing more")
						// 10 in flight + 90 queued: every one counted.
						assert.Equal(t, uint64(steadyRecords), st.Dropped[processor.DropShutdown])
					}
				case c.allOut:
					require.NoError(t, err)
					assert.Less(t, took, c.deadline)
					assert.Equal(t, uint64(steadyRecords), st.Exported)
				default:
					// No lower bound for the slow exporter: when the budget
					// cancels an export, the processor schedules a retry, and
					// its Shutdown gives up early when that retry would come
					// after the deadline.
					requireWithinRealDeadline(t, took, c.deadline)
					require.ErrorIs(t, err, context.DeadlineExceeded)
					assert.Positive(t, st.Dropped[processor.DropShutdown])
					if c.kind == hungExporter {
						assert.GreaterOrEqual(t, took, c.deadline-10*time.Millisecond)
						assert.Equal(t, uint64(steadyRecords), st.Dropped[processor.DropShutdown])
						assert.Zero(t, st.Exported)
					}
					if c.strategy == lifecycle.Graceful {
						assert.True(t, cr.BudgetExpired)
					}
				}
			})
		}
	}
}

// Graceful keeps what ForceFlush could not export within its budget and
// Shutdown drains more of it with the rest of the time: with a budget too
// short for the slow exporter but a deadline long enough, nothing is lost.
func TestSteadylogGracefulShutdownDrainsAfterBudget(t *testing.T) {
	lp, p, _ := newSteadyPipeline(t, slowExporter)
	// 10 batches × 50 ms = 500 ms: the 20% drain budget of 2 s (400 ms) is
	// too short, the remaining 1.6 s are plenty.
	r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, 2*time.Second), lifecycle.GracefulWithin(0.2),
		lifecycle.Named("logs", lifecycle.Group(lp, p)))
	require.NoError(t, err)
	st := p.Stats()
	assert.Equal(t, uint64(steadyRecords), st.Exported)
	assert.Zero(t, st.TotalDropped())
	assert.True(t, r.Components[0].BudgetExpired)
	assert.Zero(t, r.Components[0].Dropped)
}

// TestSteadylogProcessorLeftForNextStart: with a spool and an exporter that
// never answers, an Immediate shutdown of Group(provider, processor) leaves
// every record in the spool; the report shows them as left for the next
// start — the processor's Stats.Spool.LeftForNextStart — not as dropped.
func TestSteadylogProcessorLeftForNextStart(t *testing.T) {
	exp := newTestExporter(t, hungExporter)
	p, err := processor.New(exp,
		processor.WithSpool(filepath.Join(t.TempDir(), "spool")),
		processor.WithExportMaxBatchSize(10),
		processor.WithErrorHandler(func(error) {}))
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	emitN(lp, steadyRecords)
	<-exp.entered // one batch in flight, stuck; the rest queued

	r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, roomyDeadline), lifecycle.Immediate,
		lifecycle.Named("logs", lifecycle.Group(lp, p)))
	require.NoError(t, err)
	st := p.Stats()
	require.Len(t, r.Components, 1)
	cr := r.Components[0]
	assert.Equal(t, uint64(steadyRecords), st.Spool.LeftForNextStart, "%v", st)
	assert.True(t, cr.HasLeft)
	assert.Equal(t, uint64(steadyRecords), cr.Left)
	assert.Zero(t, cr.Dropped, "left, not dropped")
	assert.Zero(t, st.TotalDropped())
	assert.Contains(t, r.String(), "left for next start 100")
	t.Log("\n" + r.String())
}
