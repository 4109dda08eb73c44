package processor_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

// Tests of how exporters composed with package exporter (nested fan-outs,
// Named, Failover) become destinations, through a real LoggerProvider.

// failFirstExporter fails its first n Export calls with a transient error,
// then delivers to its bodyExporter.
type failFirstExporter struct {
	*bodyExporter
	failures atomic.Int64 // failures left
	failed   atomic.Int64
}

func newFailFirst(n, want int) *failFirstExporter {
	e := &failFirstExporter{bodyExporter: newBodyExporter(want)}
	e.failures.Store(int64(n))
	return e
}

func (e *failFirstExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.failures.Add(-1) >= 0 {
		e.failed.Add(1)
		return errBackend
	}
	return e.bodyExporter.Export(ctx, recs)
}

// emitThrough emits n records with bodies "0", "1", … through a real
// LoggerProvider that uses p, then shuts the provider down, which drains
// p, and returns p's final Stats with the identity checked for the store
// and every destination.
func emitThrough(t *testing.T, p *processor.Processor, n int) processor.Stats {
	t.Helper()
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := lp.Logger("composition")
	for i := range n {
		var r log.Record
		r.SetBody(attribute.StringValue(strconv.Itoa(i)))
		r.SetSeverity(log.SeverityInfo)
		logger.Emit(context.Background(), r)
	}
	within(t, 10*time.Second, "LoggerProvider.Shutdown", func() {
		require.NoError(t, lp.Shutdown(context.Background()))
	})
	s := p.Stats()
	invariant(t, s)
	return s
}

// requireOnce asserts that e received each of the n bodies exactly once.
func requireOnce(t *testing.T, e *bodyExporter, n int) {
	t.Helper()
	dups, distinct := e.duplicates()
	require.Empty(t, dups, "records received more than once")
	require.Equal(t, n, distinct)
	require.Equal(t, n, e.received())
}

// requireAllExported asserts that every destination exported all n records
// and dropped none.
func requireAllExported(t *testing.T, s processor.Stats, n int) {
	t.Helper()
	for _, d := range s.Destinations {
		assert.Equal(t, uint64(n), d.Received, "destination %q", d.Name)
		assert.Equal(t, uint64(n), d.Exported, "destination %q", d.Name)
		assert.Zero(t, d.TotalDropped(), "destination %q: %v", d.Name, d.Dropped)
	}
}

// Item 7: a panicking primary error handler of a Failover does not turn a
// delivered batch into a failure. Before, the panic escaped Export and the
// processor counted exported=0, export_failed=10 though the fallback held
// all ten records.
func TestFailoverPanickingPrimaryErrorHandlerCountsExported(t *testing.T) {
	primary, fallback := newFailFirst(1000, 0), newBodyExporter(10)
	var handled atomic.Int64
	exp := exporter.Failover(primary, fallback, exporter.WithPrimaryErrorHandler(func(err error) {
		handled.Add(1)
		panic("handler bug")
	}))
	p, err := processor.New(exp, quiet()...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)

	requireOnce(t, fallback, 10)
	assert.Positive(t, handled.Load(), "the handler was called")
	assert.Equal(t, uint64(10), s.Exported)
	assert.Zero(t, s.TotalDropped(), "%v", s.Dropped)
	requireAllExported(t, s, 10)
}
