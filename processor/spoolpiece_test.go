package processor

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"

	"github.com/steadylog/steadylog/internal/recordtest"
	"github.com/steadylog/steadylog/memguard"
)

// TestSpoolPayloadsOfLargeRecords: the spooler writes a chunk of large
// records as several payloads of at most spoolPieceBytes of records each,
// not one payload a chunk, and they all come back, in order.
func TestSpoolPayloadsOfLargeRecords(t *testing.T) {
	const n = 256
	var lr log.Record
	lr.SetBody(attribute.StringValue(strings.Repeat("x", 16<<10)))
	recs := recordtest.Emit(nil, "test", lr)
	rec := recs[0]
	size := memguard.RecordSize(&rec)
	perPayload := int(spoolPieceBytes / size)
	require.Greater(t, perPayload, 1, "the bound is larger than one record")
	require.Less(t, perPayload, n/4, "the bound splits the chunk")

	dir := filepath.Join(t.TempDir(), "spool")
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	// The chunk holds every record (batch size n); the budget is far
	// from half full, so the spooler writes after its coalescing delay.
	p, err := New(hung, WithSpool(dir, WithSpoolSyncInterval(0)), WithExportMaxBatchSize(n),
		WithExportInterval(time.Hour), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	ctx := context.Background()
	want := make([]string, n)
	for i := range want {
		r := rec.Clone()
		r.SetTimestamp(spoolBase.Add(time.Duration(i) * time.Millisecond))
		want[i] = recordKey(&r)
		require.NoError(t, p.OnEmit(ctx, &r))
	}
	require.Eventually(t, func() bool { return spoolWritten(p) }, 10*time.Second, time.Millisecond)

	p.mu.Lock()
	index := append([]spoolPayload(nil), p.sp.index...)
	p.mu.Unlock()
	total := 0
	for _, e := range index {
		require.LessOrEqual(t, e.n, perPayload, "payload %d holds %d records of %d bytes", e.lsn, e.n, size)
		total += e.n
	}
	require.Equal(t, n, total, "every record is in the spool once")
	require.GreaterOrEqual(t, len(index), (n+perPayload-1)/perPayload)

	close(hung.gate)
	require.NoError(t, p.Shutdown(ctx))
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported, "%v", s)
	require.Equal(t, want, hung.exported(), "every record, in order")
	require.Zero(t, errs.matching("spool"), "no spool error: %v", errs.errs)
}
