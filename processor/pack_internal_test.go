package processor

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordtest"
	"github.com/steadylog/steadylog/memguard"
)

// liveChunk returns a chunk holding recs, each live and of its
// memguard.RecordSize, as the store keeps them.
func liveChunk(recs []sdklog.Record) *chunk {
	c := &chunk{recs: recs, meta: make([]slotMeta, len(recs)), tail: len(recs)}
	for i := range recs {
		c.meta[i] = slotMeta{state: slotLive, size: memguard.RecordSize(&recs[i])}
	}
	return c
}

// TestMayPayAgreesWithCommitPack: a chunk of records whose bodies make
// most of their size is known not to pay without being encoded, and
// commitPack agrees; a chunk of small records may pay, and does.
func TestMayPayAgreesWithCommitPack(t *testing.T) {
	for _, tc := range []struct {
		name string
		body attribute.Value
		pays bool
	}{
		{"4 KiB body", attribute.StringValue(strings.Repeat("x", 4096)), false},
		{"short body", attribute.StringValue("GET /api/orders 200"), true},
		{"map body", attribute.MapValue(attribute.String("k", "v")), true},
	} {
		var capture recordtest.Capture
		lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(&capture))
		lg := lp.Logger("pack-test")
		for i := range 64 {
			var r log.Record
			r.SetBody(tc.body)
			r.AddAttributes(attribute.Int("i", i), attribute.String("user", "alice"))
			lg.Emit(context.Background(), r)
		}
		require.NoError(t, lp.Shutdown(context.Background()))
		recs := capture.Records()
		c := liveChunk(recs)
		require.Equal(t, tc.pays, c.mayPay(), tc.name)
		var cache []*sdklog.Record
		e, _, ok := encodeChunk(recs, 0, nil, &cache, nil)
		require.True(t, ok, tc.name)
		s := &store{heldBytes: 1 << 30}
		require.Equal(t, tc.pays, s.commitPack(c, e) > 0, "%s: commitPack", tc.name)
	}
}
