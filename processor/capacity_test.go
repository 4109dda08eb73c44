package processor_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

// TestDefaultBudgetHoldsSmallRecords: with the defaults and the exporter
// hung, the default byte budget holds several times more small records —
// a service's "request received" line through slog and otelslog — than
// their size on arrival allows, because the store packs them once the
// budget is full. It logs the figures DESIGN.md quotes.
func TestDefaultBudgetHoldsSmallRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("emits a full default budget of records")
	}
	exp := newKeepingExporter()
	p, err := processor.New(exp)
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := slog.New(otelslog.NewHandler("service", otelslog.WithLoggerProvider(lp)))
	ctx := context.Background()
	emit := func(i int) {
		logger.LogAttrs(ctx, slog.LevelInfo, "request received",
			slog.Uint64("seq", uint64(i)), slog.String("http.method", "GET"), slog.String("url.path", "/items/42"))
	}

	probe := &sizeProbe{}
	probeLogger := slog.New(otelslog.NewHandler("service", otelslog.WithLoggerProvider(sdklog.NewLoggerProvider(sdklog.WithProcessor(probe)))))
	probeLogger.LogAttrs(ctx, slog.LevelInfo, "request received",
		slog.Uint64("seq", 1), slog.String("http.method", "GET"), slog.String("url.path", "/items/42"))
	unpacked := processor.DefaultMaxQueueBytes / probe.size

	held := 0
	for ; ; held++ {
		emit(held)
		if held == 0 {
			<-exp.entered
		}
		if p.Stats().TotalDropped() > 0 {
			break
		}
		require.Less(t, held, 10*int(unpacked), "no drop after ten times what the budget holds unpacked")
	}
	s := p.Stats()
	t.Logf("a %d-byte record (memguard.RecordSize): the %d MiB budget holds %d unpacked; %d were held before the first drop (%.1fx), %d of them packed, %d bytes each on average",
		probe.size, processor.DefaultMaxQueueBytes>>20, unpacked, held, float64(held)/float64(unpacked), s.Packed,
		(s.QueuedBytes+s.InFlightBytes)/int64(s.Queued+s.InFlight))
	require.GreaterOrEqual(t, int64(held), 3*unpacked, "packing holds at least three times as many")
	require.LessOrEqual(t, s.QueuedBytes+s.InFlightBytes, processor.DefaultMaxQueueBytes)

	close(exp.gate)
	require.NoError(t, lp.Shutdown(context.Background()))
	s = p.Stats()
	invariant(t, s)
	require.Equal(t, uint64(len(exp.records())), s.Exported)
}
