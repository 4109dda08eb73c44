package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestShapesMatchTheirDefinition(t *testing.T) {
	shapes := Shapes()
	require.Len(t, shapes, 3)
	want := map[string]struct {
		bodyLen, attrs int
	}{
		ShapeSmall:  {60, 3},
		ShapeMedium: {60, 10},
		ShapeLarge:  {4096, 3},
	}
	for _, s := range shapes {
		w, ok := want[s.Name]
		require.True(t, ok, s.Name)
		assert.Len(t, s.Body, w.bodyLen, s.Name)
		assert.Len(t, s.Attrs, w.attrs, s.Name)
		assert.Len(t, s.SlogAttrs, w.attrs, s.Name)

		r := s.SDKRecord()
		assert.Equal(t, s.Body, r.Body().AsString(), s.Name)
		assert.Equal(t, w.attrs, r.AttributesLen(), s.Name)
		assert.NotNil(t, r.Resource(), "record carries the provider's resource")
	}
}

func TestMediumShapeHasNestedMap(t *testing.T) {
	s, err := ShapeByName(ShapeMedium)
	require.NoError(t, err)
	var maps int
	for _, kv := range s.Attrs {
		if kv.Value.Type() == attribute.MAP {
			maps++
			var nested bool
			for _, inner := range kv.Value.AsMap() {
				nested = nested || inner.Value.Type() == attribute.MAP
			}
			assert.True(t, nested, "the map holds a map")
		}
	}
	assert.Equal(t, 1, maps)
}

func TestShapeByNameRejectsUnknown(t *testing.T) {
	_, err := ShapeByName("huge")
	require.ErrorIs(t, err, ErrUnknownShape)
	assert.Contains(t, err.Error(), `"huge"`)
}

func TestLargeBody(t *testing.T) {
	assert.Empty(t, LargeBody(0))
	assert.Empty(t, LargeBody(-1))
	assert.Len(t, LargeBody(1<<20), 1<<20)
	assert.Len(t, LargeBody(7), 7)
}

func TestParseImpls(t *testing.T) {
	got, err := ParseImpls(" sdk, steadylog ,")
	require.NoError(t, err)
	assert.Equal(t, []string{ImplSDK, ImplSteadylog}, got)

	got, err = ParseImpls("steadylog-noheap,noop")
	require.NoError(t, err)
	assert.Equal(t, []string{ImplSteadylogNoHeap, ImplNoop}, got)

	_, err = ParseImpls("sdk,batch")
	require.ErrorIs(t, err, ErrUnknownImpl)
	_, err = ParseImpls(" , ")
	require.ErrorIs(t, err, ErrUnknownImpl)
}

func TestNewProcessorRejectsUnknown(t *testing.T) {
	_, err := NewProcessor("simple", &CountingExporter{}, Config{})
	require.ErrorIs(t, err, ErrUnknownImpl)
}

// Every implementation must deliver what it does not drop, and steadylog's
// own drop count must agree with what the exporter saw: the measurements
// rely on both.
func TestProcessorsAccountForEveryRecord(t *testing.T) {
	rec := Shapes()[0].SDKRecord()
	for _, impl := range Impls() {
		t.Run(impl, func(t *testing.T) {
			exp := &CountingExporter{}
			p, err := NewProcessor(impl, exp, Config{})
			require.NoError(t, err)
			assert.Equal(t, impl, p.Impl)
			assert.True(t, p.Enabled(context.Background(), sdklog.EnabledParameters{}))

			const goroutines, each = 4, 3000
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					r := rec.Clone()
					for range each {
						_ = p.OnEmit(context.Background(), &r)
					}
				})
			}
			wg.Wait()
			require.NoError(t, p.Shutdown(context.Background()))

			dropped, _ := p.Dropped()
			switch impl {
			case ImplNoop:
				assert.Zero(t, exp.Exported())
				assert.False(t, p.CountsDrops())
			case ImplSDK:
				assert.False(t, p.CountsDrops())
				assert.LessOrEqual(t, exp.Exported(), uint64(goroutines*each))
				assert.Positive(t, exp.Exported())
			case ImplSteadylog, ImplSteadylogNoHeap:
				assert.True(t, p.CountsDrops())
				assert.Equal(t, uint64(goroutines*each), exp.Exported()+dropped)
			}
		})
	}
}

func TestSteadylogHonoursMaxQueueBytes(t *testing.T) {
	// A body larger than the whole budget can never be queued, so the
	// record must be dropped: proof that the option reached the processor.
	exp := &CountingExporter{}
	p, err := NewProcessor(ImplSteadylog, exp, Config{MaxQueueBytes: 1 << 10})
	require.NoError(t, err)
	var r sdklog.Record
	r.SetBody(attribute.StringValue(LargeBody(64 << 10)))
	_ = p.OnEmit(context.Background(), &r)
	require.NoError(t, p.Shutdown(context.Background()))
	dropped, by := p.Dropped()
	assert.Equal(t, uint64(1), dropped)
	assert.Zero(t, exp.Exported())
	assert.NotEmpty(t, by)
}

func TestSteadylogAccessor(t *testing.T) {
	for _, impl := range Impls() {
		p, err := NewProcessor(impl, &CountingExporter{}, Config{})
		require.NoError(t, err)
		sp, ok := p.Steadylog()
		assert.Equal(t, IsSteadylog(impl), ok, impl)
		assert.Equal(t, ok, sp != nil, impl)
		require.NoError(t, p.Shutdown(context.Background()))
	}
}

// With ShedBelow and back-pressure raised (a queue of the default 2048
// records behind an exporter that never returns), Enabled must refuse
// records below the threshold and count them as shed.
func TestSteadylogHonoursShedBelow(t *testing.T) {
	exp := NewHungExporter(time.Hour)
	p, err := NewProcessor(ImplSteadylog, exp, Config{ShedBelow: log.SeverityWarn})
	require.NoError(t, err)
	sp, ok := p.Steadylog()
	require.True(t, ok)
	rec := Shapes()[0].SDKRecord()
	for !sp.Stats().BackPressure {
		_ = p.OnEmit(context.Background(), &rec)
	}
	ctx := context.Background()
	assert.False(t, p.Enabled(ctx, sdklog.EnabledParameters{Severity: log.SeverityInfo}))
	assert.True(t, p.Enabled(ctx, sdklog.EnabledParameters{Severity: log.SeverityWarn}))
	exp.Release()
	require.NoError(t, p.Shutdown(ctx))
	_, by := p.Dropped()
	assert.Equal(t, uint64(1), by["shed"])
}

func TestSlowExporterHonoursContext(t *testing.T) {
	e := &SlowExporter{Delay: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, e.Export(ctx, make([]sdklog.Record, 3)), context.Canceled)
	assert.Zero(t, e.Exported())

	e.Delay = 0
	require.NoError(t, e.Export(context.Background(), make([]sdklog.Record, 3)))
	assert.Equal(t, uint64(3), e.Exported())
	assert.Equal(t, uint64(1), e.Calls())
}

func TestHungExporterIgnoresContextUntilReleased(t *testing.T) {
	e := NewHungExporter(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- e.Export(ctx, make([]sdklog.Record, 2)) }()

	select {
	case <-done:
		t.Fatal("a hung export returned although its context was cancelled and it was not released")
	case <-time.After(20 * time.Millisecond):
	}
	e.Release()
	e.Release() // idempotent
	require.NoError(t, <-done)
	assert.Equal(t, uint64(2), e.Exported())
	require.NoError(t, e.Export(ctx, nil), "released exporter returns at once")
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	assert.Zero(t, h.Quantile(0.5))
	assert.Zero(t, h.Mean())
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	assert.Equal(t, uint64(1000), h.Count())
	assert.Equal(t, time.Millisecond, h.Max())
	assert.InEpsilon(t, 500*time.Microsecond, h.Quantile(0.5), 1.0/32)
	assert.InEpsilon(t, 990*time.Microsecond, h.Quantile(0.99), 1.0/32)
	assert.Equal(t, time.Microsecond, h.Quantile(0))
	assert.Equal(t, time.Millisecond, h.Quantile(1))
	assert.InEpsilon(t, 500500*time.Nanosecond, h.Mean(), 1e-9)
}

func TestHistogramSmallValuesExactAndNegativeIsZero(t *testing.T) {
	var h Histogram
	h.Record(-5)
	h.Record(3)
	h.Record(3)
	assert.Equal(t, time.Duration(0), h.Quantile(0.3))
	assert.Equal(t, time.Duration(3), h.Quantile(0.9))
}

func TestHistogramMerge(t *testing.T) {
	var a, b, empty Histogram
	a.Record(100)
	b.Record(10000)
	b.Record(20000)
	a.Merge(&empty)
	assert.Equal(t, uint64(1), a.Count())
	a.Merge(&b)
	assert.Equal(t, uint64(3), a.Count())
	assert.Equal(t, time.Duration(20000), a.Max())
	assert.Equal(t, time.Duration(100), a.Quantile(0.1), "the minimum is exact")
	empty.Merge(&b)
	assert.Equal(t, time.Duration(10000), empty.Quantile(0.5))
}

func TestBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 15, 16, 17, 31, 32, 1000, 123456789, 1 << 62, ^uint64(0)} {
		i := bucketOf(v)
		require.Less(t, i, numBuckets, v)
		lo, w := bucketBounds(i)
		assert.LessOrEqual(t, lo, v, v)
		assert.LessOrEqual(t, v-lo, w-1, v)
	}
}

func TestParseStatusField(t *testing.T) {
	doc := "Name:\tbench\nVmPeak:\t  200000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t    1000 kB\n"
	n, err := ParseStatusField(strings.NewReader(doc), "VmHWM")
	require.NoError(t, err)
	assert.Equal(t, int64(12345*1024), n)

	_, err = ParseStatusField(strings.NewReader(doc), "VmSwap")
	require.ErrorIs(t, err, ErrNoField)

	_, err = ParseStatusField(strings.NewReader("VmHWM:\t12 MB\n"), "VmHWM")
	require.ErrorContains(t, err, "malformed")
	_, err = ParseStatusField(strings.NewReader("VmHWM:\tx kB\n"), "VmHWM")
	require.ErrorContains(t, err, "malformed")
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	cur, err := CurrentRSS()
	require.NoError(t, err)
	peak, err := PeakRSS()
	require.NoError(t, err)
	assert.Positive(t, cur)
	assert.GreaterOrEqual(t, peak, cur)
}

func TestJSONRoundTrip(t *testing.T) {
	path := t.TempDir() + "/r.json"
	in := Report[Hung]{Program: "hung", Env: CurrentEnv(), Results: []Hung{{Impl: ImplSDK, P99NS: 512}}}
	require.NoError(t, WriteJSON(path, in))
	var out Report[Hung]
	require.NoError(t, ReadJSON(path, &out))
	assert.Equal(t, in.Results, out.Results)
	assert.Equal(t, "hung", out.Program)

	require.Error(t, ReadJSON(t.TempDir()+"/missing.json", &out))
	require.Error(t, WriteJSON(t.TempDir()+"/no/such/dir.json", in))
}

func TestPct(t *testing.T) {
	assert.Zero(t, Pct(1, 0))
	assert.InDelta(t, 25.0, Pct(1, 4), 1e-12)
}

func ExampleHistogram() {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	fmt.Println(h.Count(), h.Quantile(0.5).Round(time.Microsecond), h.Max())
	// Output: 100 50µs 100µs
}
