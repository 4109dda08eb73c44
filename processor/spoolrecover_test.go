package processor

import (
	"context"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/recordtest"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// TestSpoolRecoversPayloadsWithLongHeaders: New rebuilds the index from
// the first spoolHeadBytes of each payload, and reads a payload whose
// header is longer (records far apart) whole.
func TestSpoolRecoversPayloadsWithLongHeaders(t *testing.T) {
	dir := t.TempDir()
	l, _, err := segmentlog.Open(dir, segmentlog.Options{Consumers: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := recordtest.Numbered(1)[0]
	var before uint64 // records written before
	write := func(seqs []uint64) int {
		t.Helper()
		recs := make([]sdklog.Record, len(seqs))
		for i := range recs {
			recs[i] = rec
		}
		head := appendPayloadHeader(nil, before, seqs)
		before += uint64(len(seqs))
		p, err := recordcodec.AppendBatch(head, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		return len(head)
	}
	far := make([]uint64, 1500)
	for i := range far {
		far[i] = uint64(i) * 200 // two bytes of header a record
	}
	if n := write(far); n <= spoolHeadBytes {
		t.Fatalf("a header of %d bytes, want more than %d", n, spoolHeadBytes)
	}
	near := make([]uint64, 10)
	for i := range near {
		near[i] = 400_000 + uint64(i)
	}
	write(near)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	exp := &gateExporter{gate: make(chan struct{})}
	defer close(exp.gate)
	p, err := NewWithDestinations([]Destination{{Name: "d", Exporter: exp}}, WithoutDropAlerts(), WithSpool(dir))
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	expired, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	_ = p.Shutdown(expired)
	if st.Spool.Recovered != 1510 || st.Spool.Damaged != 0 {
		t.Fatalf("recovered %d records, %d damaged; want 1510 and none", st.Spool.Recovered, st.Spool.Damaged)
	}
}
