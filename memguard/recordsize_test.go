package memguard

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// recordWith returns a clone of a record emitted with body and attrs.
func recordWith(t testing.TB, body attribute.Value, attrs ...attribute.KeyValue) sdklog.Record {
	t.Helper()
	p := &captureProcessor{}
	var r log.Record
	r.SetBody(body)
	r.AddAttributes(attrs...)
	newCaptureLogger(t, p).Emit(t.Context(), r)
	require.Len(t, p.slots, 1)
	return p.slots[0]
}

func TestRecordSizeNil(t *testing.T) {
	assert.Zero(t, RecordSize(nil))
}

func TestRecordSizeEmptyRecordIsTheSlot(t *testing.T) {
	var r sdklog.Record
	assert.Equal(t, int64(unsafe.Sizeof(r)), RecordSize(&r))
}

func TestRecordSizeCounts(t *testing.T) {
	slot := recordSlotSize
	cases := []struct {
		name  string
		body  attribute.Value
		attrs []attribute.KeyValue
		want  int64
	}{
		{"empty", attribute.Value{}, nil, slot},
		{"60-byte body rounds to 64", attribute.StringValue(strings.Repeat("b", 60)), nil, slot + 64},
		{"4 KiB body", attribute.StringValue(strings.Repeat("b", 4096)), nil, slot + 4096},
		{"4097-byte body rounds to 4864", attribute.StringValue(strings.Repeat("b", 4097)), nil, slot + 4864},
		{"40 KiB body rounds to pages", attribute.StringValue(strings.Repeat("b", 40<<10)), nil, slot + 40960},
		{"byte-slice body", attribute.ByteSliceValue(make([]byte, 100)), nil, slot + 112},
		{"numbers cost nothing beyond the slot", attribute.IntValue(1),
			[]attribute.KeyValue{attribute.Int("a", 1), attribute.Float64("b", 2), attribute.Bool("c", true)}, slot},
		{"keys are not counted", attribute.Value{},
			[]attribute.KeyValue{attribute.Int(strings.Repeat("k", 100), 1)}, slot},
		{"five attributes are inline", attribute.Value{}, ints(5), slot},
		{"the sixth attribute needs the back slice", attribute.Value{}, ints(6), slot + 64},
		{"eight attributes: 3*64 rounds to 192", attribute.Value{}, ints(8), slot + 192},
		// 9*64 = 576 > 512: pointer-holding object with an 8-byte header.
		{"fourteen attributes: malloc header", attribute.Value{}, ints(14), slot + 640},
		{"string value", attribute.Value{},
			[]attribute.KeyValue{attribute.String("s", strings.Repeat("v", 17))}, slot + 24},
		{"string slice: array plus strings", attribute.Value{},
			[]attribute.KeyValue{attribute.StringSlice("s", []string{"abc", strings.Repeat("v", 20)})}, slot + 32 + 8 + 24},
		{"int slice", attribute.Value{},
			[]attribute.KeyValue{attribute.Int64Slice("s", []int64{1, 2, 3, 4, 5})}, slot + 48},
		{"bool slice", attribute.Value{},
			[]attribute.KeyValue{attribute.BoolSlice("s", []bool{true, false, true})}, slot + 8},
		{"float slice", attribute.Value{},
			[]attribute.KeyValue{attribute.Float64Slice("s", []float64{1, 2})}, slot + 16},
		{"empty slice", attribute.Value{},
			[]attribute.KeyValue{attribute.StringSlice("s", nil)}, slot},
		{"map: array of key-values plus values", attribute.Value{},
			[]attribute.KeyValue{{Key: "m", Value: attribute.MapValue(
				attribute.String("a", strings.Repeat("v", 30)), attribute.Int("b", 1))}}, slot + 128 + 32},
		{"nested slice in map", attribute.Value{},
			[]attribute.KeyValue{{Key: "m", Value: attribute.MapValue(
				attribute.KeyValue{Key: "inner", Value: attribute.SliceValue(
					attribute.StringValue(strings.Repeat("v", 8)), attribute.IntValue(2))})}},
			slot + 64 + 96 + 8},
		{"map body", attribute.MapValue(attribute.String("a", "xy")), nil, slot + 64 + 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := recordWith(t, tc.body, tc.attrs...)
			assert.Equal(t, tc.want, RecordSize(&r))
		})
	}
}

func TestRecordSizeEventNameAndSeverityText(t *testing.T) {
	var r sdklog.Record
	r.SetEventName(strings.Repeat("e", 20))
	r.SetSeverityText("INFO")
	assert.Equal(t, recordSlotSize+24+8, RecordSize(&r))
}

func TestRecordSizeGrowsWithContent(t *testing.T) {
	small := makeRecord(t, smallShape, 1)
	medium := makeRecord(t, mediumShape, 1)
	large := makeRecord(t, largeShape, 1)
	assert.Less(t, RecordSize(&small), RecordSize(&medium))
	assert.Less(t, RecordSize(&medium), RecordSize(&large))
}

func TestRecordSizeDoesNotAllocate(t *testing.T) {
	for _, s := range shapes {
		r := makeRecord(t, s, 1)
		allocs := testing.AllocsPerRun(100, func() { _ = RecordSize(&r) })
		assert.Zero(t, allocs, s.name)
	}
	nested := recordWith(t, attribute.SliceValue(attribute.StringValue("x"), attribute.MapValue(attribute.String("a", "b"))),
		attribute.StringSlice("ss", []string{"a", "b", "c", "d", "e", "f"}),
		attribute.KeyValue{Key: "m", Value: attribute.MapValue(ints(9)...)})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = RecordSize(&nested) }))
}

func TestRecordSizeLayoutKnown(t *testing.T) {
	// The in-place walk must be active with the attribute package this module
	// builds with; the fallback exists only for future versions.
	assert.True(t, layoutKnown)
}

// TestPublicFallbackAgrees checks that the fallback through the public API
// gives the same estimates as the in-place walk.
func TestPublicFallbackAgrees(t *testing.T) {
	values := []attribute.Value{
		attribute.BoolSliceValue([]bool{true, false}),
		attribute.IntSliceValue([]int{1, 2, 3, 4, 5, 6, 7}),
		attribute.Float64SliceValue([]float64{1.5}),
		attribute.StringSliceValue([]string{"a", strings.Repeat("b", 100), ""}),
		attribute.StringSliceValue(nil),
		attribute.SliceValue(attribute.StringValue("xyz"), attribute.SliceValue(attribute.StringValue(strings.Repeat("q", 50)))),
		attribute.SliceValue(make([]attribute.Value, 12)...),
		attribute.MapValue(attribute.String("a", "b"), attribute.KeyValue{Key: "n", Value: attribute.MapValue(ints(7)...)}),
		attribute.StringValue(strings.Repeat("s", 33)),
		attribute.ByteSliceValue([]byte("bytes")),
		attribute.Int64Value(1),
	}
	want := make([]int64, len(values))
	for i := range values {
		want[i] = valueSize(&values[i])
	}
	layoutKnown = false
	defer func() { layoutKnown = true }()
	for i := range values {
		assert.Equal(t, want[i], valueSize(&values[i]), "value %d (%s)", i, values[i].Type())
	}
}

// ints returns n integer attributes with distinct keys.
func ints(n int) []attribute.KeyValue {
	kvs := make([]attribute.KeyValue, n)
	for i := range kvs {
		kvs[i] = attribute.Int(string(rune('a'+i)), i)
	}
	return kvs
}

func BenchmarkRecordSize(b *testing.B) {
	for _, s := range shapes {
		r := makeRecord(b, s, 1)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink int64
			for b.Loop() {
				sink += RecordSize(&r)
			}
			_ = sink
		})
	}
}
