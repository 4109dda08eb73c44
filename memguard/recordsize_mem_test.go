package memguard

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// heapAfterGC returns the live heap once everything unreachable (including
// sync.Pool contents, which survive one cycle in the victim cache) is gone.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measureRetained emits n records of shape s through a real LoggerProvider
// into a processor that clones them into a preallocated slice, and returns
// the live heap per record the clones (and their slots) retain, and the mean
// RecordSize of the clones.
func measureRetained(t *testing.T, s recordShape, n int) (measured, estimated float64) {
	p := &captureProcessor{}
	l := newCaptureLogger(t, p)
	emit(l, s, -1) // warm up the SDK's lazily created state and pools
	p.slots = nil

	before := heapAfterGC()
	// The slots are allocated inside the measured window: a queue pays for
	// them, and RecordSize counts them.
	p.slots = make([]sdklog.Record, 0, n)
	for i := range n {
		emit(l, s, i)
	}
	// The originals and the builder garbage are unreachable now.
	after := heapAfterGC()
	require.Len(t, p.slots, n)

	var sum int64
	for i := range p.slots {
		sum += RecordSize(&p.slots[i])
	}
	runtime.KeepAlive(p.slots)
	require.Greater(t, after, before, "the clones must be live")
	return float64(after-before) / float64(n), float64(sum) / float64(n)
}

// TestRecordSizeMatchesHeap compares RecordSize with what the runtime really
// keeps alive for three shapes of record.
func TestRecordSizeMatchesHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 2000
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			measured, estimated := measureRetained(t, s, n)
			ratio := estimated / measured
			t.Logf("%s: estimate %.0f B, measured %.0f B per record, ratio %.3f", s.name, estimated, measured, ratio)
			assert.InDelta(t, 1.0, ratio, 0.25, "estimate/measured out of ±25%%")
			// The harness must be able to tell a naive estimate (the slot
			// alone) from the real cost for records that own real data.
			if s.name == "large" {
				assert.Greater(t, measured, 1.25*float64(recordSlotSize))
			}
		})
	}
}
