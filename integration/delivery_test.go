package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

// TestDelivery sends 100 000 records from slog through otelslog, the steadylog
// processor and a real OTLP exporter into a real collector, and checks that the
// collector wrote every one of them and that the processor's own accounting
// says the same.
func TestDelivery(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	for _, kind := range []transport{overHTTP, overGRPC} {
		t.Run(string(kind), func(t *testing.T) {
			testDelivery(t, otelcol, kind)
		})
	}
}

func testDelivery(t *testing.T, otelcol string, kind transport) {
	const (
		n       = 100_000
		workers = 4
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	col := harness.StartCollector(t, otelcol)
	errs := &errorCounter{}
	// Sized so that nothing is dropped even if the exporter falls behind the
	// emitters for the whole run: the test is about delivery, not shedding.
	proc, err := processor.New(newOTLPExporter(ctx, t, kind, col),
		processor.WithMaxQueueSize(n),
		processor.WithMaxQueueBytes(1<<30),
		processor.WithErrorHandler(errs.handle),
	)
	require.NoError(t, err)
	logger, provider := newSlog(proc)

	start := time.Now()
	emitParallel(ctx, logger, n, workers)
	emitted := time.Since(start)
	require.NoError(t, provider.ForceFlush(ctx))
	require.NoError(t, provider.Shutdown(ctx))
	delivered := time.Since(start)

	st := proc.Stats()
	t.Logf("%s: emitted %d records in %v (%.0f records/s), exported by %v (%.0f records/s); stats: %s; %s",
		kind, n, emitted.Round(time.Millisecond), n/emitted.Seconds(),
		delivered.Round(time.Millisecond), n/delivered.Seconds(), st, errs)
	assert.EqualValues(t, n, st.Received)
	assert.EqualValues(t, n, st.Exported)
	assert.Zero(t, st.TotalDropped(), "dropped: %v", st.Dropped)
	assert.Zero(t, st.Queued)
	assert.Zero(t, st.InFlight)

	require.NoError(t, col.WaitForSentLogRecords(ctx, n))
	require.NoError(t, col.Terminate(), "a graceful stop flushes the file exporter")
	fc, err := col.Count(seqKey)
	require.NoError(t, err)
	t.Logf("%s: collector file: %s", kind, fc)
	assert.Equal(t, n, fc.Distinct, "distinct records in the collector's output")
	assert.Empty(t, fc.Missing(n))
	assert.Zero(t, fc.WithoutSeq)
	if fc.Duplicates > 0 {
		// At-least-once: a retried batch whose first attempt did arrive.
		t.Logf("%s: %d duplicates (at-least-once redelivery)", kind, fc.Duplicates)
	}
}
