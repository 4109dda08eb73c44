package sdkrecord

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// keep keeps a clone of every record it is given.
type keep struct{ recs []sdklog.Record }

func (k *keep) OnEmit(_ context.Context, r *sdklog.Record) error {
	k.recs = append(k.recs, r.Clone())
	return nil
}
func (k *keep) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (k *keep) Shutdown(context.Context) error                         { return nil }
func (k *keep) ForceFlush(context.Context) error                       { return nil }

// TestInlineAttrsMatchesTheSDK: Record.Clone allocates only for the
// attributes beyond the inline ones, so a record with InlineAttrs
// attributes clones without allocating and one with one more allocates
// once. If the SDK changes its inline count, one of the two fails.
func TestInlineAttrsMatchesTheSDK(t *testing.T) {
	k := &keep{}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(k))
	defer func() { _ = provider.Shutdown(context.Background()) }()
	logger := provider.Logger("sdkrecord-test")
	for n, want := range map[int]float64{InlineAttrs: 0, InlineAttrs + 1: 1} {
		var r log.Record
		for i := range n {
			r.AddAttributes(attribute.Int(string(rune('a'+i)), i)) // distinct keys: the SDK keeps one per key
		}
		k.recs = nil
		logger.Emit(context.Background(), r)
		if len(k.recs) != 1 || k.recs[0].AttributesLen() != n {
			t.Fatalf("emitted a record with %d attributes, kept %d records", n, len(k.recs))
		}
		rec := k.recs[0]
		var sink sdklog.Record
		allocs := testing.AllocsPerRun(100, func() { sink = rec.Clone() })
		_ = sink
		if allocs != want {
			t.Errorf("Clone of a record with %d attributes: %v allocations, want %v (InlineAttrs = %d)", n, allocs, want, InlineAttrs)
		}
	}
}
