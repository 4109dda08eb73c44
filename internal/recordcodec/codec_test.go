package recordcodec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/recordtest"
)

// template returns a record emitted through a real LoggerProvider, which
// carries its resource, scope and attribute limits: what Decode needs.
func template(t testing.TB, opts ...sdklog.LoggerProviderOption) sdklog.Record {
	t.Helper()
	res := resource.NewSchemaless(attribute.String("service.name", "codec-test"))
	var r log.Record
	r.SetBody(attribute.StringValue("template body"))
	r.AddAttributes(attribute.String("template", "attr"))
	recs := recordtest.Emit(append([]sdklog.LoggerProviderOption{sdklog.WithResource(res)}, opts...), "codec", r)
	if len(recs) != 1 {
		t.Fatalf("captured %d records, want 1", len(recs))
	}
	return recs[0]
}

func randString(rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("x", 100+rng.IntN(300)) // lengths past one varint byte
	default:
		return fmt.Sprintf("s%d", rng.IntN(1000))
	}
}

func randValue(rng *rand.Rand, depth int) attribute.Value {
	n := 9
	if depth < 4 {
		n = 11
	}
	switch rng.IntN(n) {
	case 0:
		return attribute.BoolValue(rng.IntN(2) == 0)
	case 1:
		return attribute.Int64Value(int64(rng.Uint64()))
	case 2:
		return attribute.Float64Value([]float64{0, -1.5, math.Inf(1), math.MaxFloat64, rng.Float64()}[rng.IntN(5)])
	case 3:
		return attribute.StringValue(randString(rng))
	case 4:
		return attribute.ByteSliceValue([]byte(randString(rng)))
	case 5:
		return attribute.BoolSliceValue([]bool{true, false, rng.IntN(2) == 0}[:rng.IntN(4)])
	case 6:
		return attribute.Int64SliceValue([]int64{math.MinInt64, 0, 7}[:rng.IntN(4)])
	case 7:
		return attribute.Float64SliceValue([]float64{-0.5, 1e300}[:rng.IntN(3)])
	case 8:
		return attribute.StringSliceValue([]string{randString(rng), "b"}[:rng.IntN(3)])
	case 9:
		vals := make([]attribute.Value, rng.IntN(7))
		for i := range vals {
			vals[i] = randValue(rng, depth+1)
		}
		return attribute.SliceValue(vals...)
	default:
		kvs := make([]attribute.KeyValue, rng.IntN(7))
		for i := range kvs {
			kvs[i] = attribute.KeyValue{Key: attribute.Key(fmt.Sprintf("k%d", i)), Value: randValue(rng, depth+1)}
		}
		return attribute.MapValue(kvs...)
	}
}

// randRecord sets every field of a copy of tmpl at random.
func randRecord(rng *rand.Rand, tmpl sdklog.Record) sdklog.Record {
	r := tmpl
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(1_800_000_000, 123456789), time.Unix(-5, 7)}
	r.SetTimestamp(times[rng.IntN(len(times))])
	r.SetObservedTimestamp(times[rng.IntN(len(times))])
	r.SetSeverity(log.Severity(rng.IntN(30) - 3))
	r.SetSeverityText(randString(rng))
	r.SetEventName(randString(rng))
	if rng.IntN(5) == 0 {
		r.SetBody(attribute.Value{})
	} else {
		r.SetBody(randValue(rng, 0))
	}
	attrs := make([]attribute.KeyValue, rng.IntN(12))
	for i := range attrs {
		attrs[i] = attribute.KeyValue{Key: attribute.Key(fmt.Sprintf("a%d", i)), Value: randValue(rng, 0)}
		if attrs[i].Value.Type() == attribute.EMPTY {
			attrs[i].Value = attribute.StringValue("")
		}
	}
	r.SetAttributes(attrs...)
	var tid trace.TraceID
	var sid trace.SpanID
	if rng.IntN(2) == 0 {
		for i := range tid {
			tid[i] = byte(rng.IntN(256))
		}
		for i := range sid {
			sid[i] = byte(rng.IntN(256))
		}
	}
	r.SetTraceID(tid)
	r.SetSpanID(sid)
	r.SetTraceFlags(trace.TraceFlags(rng.IntN(3)))
	return r
}

func equalValue(a, b attribute.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case attribute.SLICE:
		x, y := a.AsSlice(), b.AsSlice()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case attribute.MAP:
		x, y := a.AsMap(), b.AsMap()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Key != y[i].Key || !equalValue(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case attribute.FLOAT64:
		return math.Float64bits(a.AsFloat64()) == math.Float64bits(b.AsFloat64())
	case attribute.BYTESLICE:
		return bytes.Equal(a.AsByteSlice(), b.AsByteSlice())
	}
	return a.String() == b.String()
}

func attrsOf(r *sdklog.Record) []attribute.KeyValue {
	var out []attribute.KeyValue
	r.WalkAttributes(func(kv attribute.KeyValue) bool { out = append(out, kv); return true })
	return out
}

// diff describes how got differs from want in what an exporter reads, or
// returns "". got must have want's resource and scope: Decode's contract.
func diff(want, got *sdklog.Record) string {
	switch {
	case want.Resource() != got.Resource():
		return "resource differs"
	case want.InstrumentationScope().Name != got.InstrumentationScope().Name:
		return "scope differs"
	}
	return diffFields(want, got)
}

// diffFields is diff but for the resource and scope.
func diffFields(want, got *sdklog.Record) string {
	switch {
	case !want.Timestamp().Equal(got.Timestamp()) || want.Timestamp().IsZero() != got.Timestamp().IsZero():
		return fmt.Sprintf("timestamp %v, want %v", got.Timestamp(), want.Timestamp())
	case !want.ObservedTimestamp().Equal(got.ObservedTimestamp()) || want.ObservedTimestamp().IsZero() != got.ObservedTimestamp().IsZero():
		return fmt.Sprintf("observed timestamp %v, want %v", got.ObservedTimestamp(), want.ObservedTimestamp())
	case want.Severity() != got.Severity(), want.SeverityText() != got.SeverityText():
		return fmt.Sprintf("severity %v %q, want %v %q", got.Severity(), got.SeverityText(), want.Severity(), want.SeverityText())
	case want.EventName() != got.EventName():
		return fmt.Sprintf("event name %q, want %q", got.EventName(), want.EventName())
	case !equalValue(want.Body(), got.Body()):
		return fmt.Sprintf("body %s, want %s", got.Body().String(), want.Body().String())
	case want.TraceID() != got.TraceID(), want.SpanID() != got.SpanID(), want.TraceFlags() != got.TraceFlags():
		return "trace context differs"
	}
	wa, ga := attrsOf(want), attrsOf(got)
	if len(wa) != len(ga) {
		return fmt.Sprintf("%d attributes, want %d", len(ga), len(wa))
	}
	for i := range wa {
		if wa[i].Key != ga[i].Key || !equalValue(wa[i].Value, ga[i].Value) {
			return fmt.Sprintf("attribute %d: %s=%s, want %s=%s", i, ga[i].Key, ga[i].Value.String(), wa[i].Key, wa[i].Value.String())
		}
	}
	return ""
}

func TestRoundTrip(t *testing.T) {
	tmpl := template(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	for i := range 3000 {
		want := randRecord(rng, tmpl)
		var err error
		buf, err = recordcodec.Append(buf[:0], &want)
		if err != nil {
			t.Fatalf("record %d: Append: %v", i, err)
		}
		// Decode into a copy of the template holding other values: every
		// field must be replaced.
		got := randRecord(rng, tmpl)
		enc := bytes.Clone(buf)
		dropped, err := recordcodec.Decode(enc, &got)
		if err != nil {
			t.Fatalf("record %d: Decode: %v", i, err)
		}
		if dropped != 0 {
			t.Fatalf("record %d: dropped %d, want 0", i, dropped)
		}
		if d := diff(&want, &got); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
	}
}

// TestOTLPWire decodes the bytes with the OTLP protobuf types: they are an
// OTLP LogRecord, which receivers can read as such.
func TestOTLPWire(t *testing.T) {
	r := template(t)
	r.SetTimestamp(time.Unix(1_800_000_000, 5))
	r.SetObservedTimestamp(time.Unix(1_800_000_001, 0))
	r.SetSeverity(log.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetEventName("checkout")
	r.SetBody(attribute.StringValue(strings.Repeat("b", 300)))
	r.SetAttributes(
		attribute.Int("n", -3),
		attribute.StringSlice("tags", []string{"x", "y"}),
		attribute.KeyValue{Key: "m", Value: attribute.MapValue(attribute.Bool("ok", true))},
	)
	r.SetTraceID(trace.TraceID{1, 2, 3})
	r.SetSpanID(trace.SpanID{4, 5})
	r.SetTraceFlags(trace.FlagsSampled)
	b, err := recordcodec.Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	var pb logspb.LogRecord
	if err := proto.Unmarshal(b, &pb); err != nil {
		t.Fatalf("not an OTLP LogRecord: %v", err)
	}
	switch {
	case pb.TimeUnixNano != uint64(time.Unix(1_800_000_000, 5).UnixNano()):
		t.Errorf("time_unix_nano = %d", pb.TimeUnixNano)
	case pb.ObservedTimeUnixNano != uint64(time.Unix(1_800_000_001, 0).UnixNano()):
		t.Errorf("observed_time_unix_nano = %d", pb.ObservedTimeUnixNano)
	case pb.SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_WARN, pb.SeverityText != "WARN":
		t.Errorf("severity = %v %q", pb.SeverityNumber, pb.SeverityText)
	case pb.EventName != "checkout":
		t.Errorf("event_name = %q", pb.EventName)
	case pb.Body.GetStringValue() != strings.Repeat("b", 300):
		t.Errorf("body = %v", pb.Body)
	case len(pb.Attributes) != 3:
		t.Fatalf("attributes = %v", pb.Attributes)
	case pb.Attributes[0].Key != "n" || pb.Attributes[0].Value.GetIntValue() != -3:
		t.Errorf("attribute 0 = %v", pb.Attributes[0])
	case len(pb.Attributes[1].Value.GetArrayValue().GetValues()) != 2 || pb.Attributes[1].Value.GetArrayValue().Values[1].GetStringValue() != "y":
		t.Errorf("attribute 1 = %v", pb.Attributes[1])
	case !pb.Attributes[2].Value.GetKvlistValue().GetValues()[0].Value.GetBoolValue():
		t.Errorf("attribute 2 = %v", pb.Attributes[2])
	case !bytes.Equal(pb.TraceId, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) || !bytes.Equal(pb.SpanId, []byte{4, 5, 0, 0, 0, 0, 0, 0}):
		t.Errorf("trace_id %x span_id %x", pb.TraceId, pb.SpanId)
	case pb.Flags != uint32(trace.FlagsSampled):
		t.Errorf("flags = %d", pb.Flags)
	}
}

func TestDroppedAttributesAreReturned(t *testing.T) {
	tmpl := template(t, sdklog.WithAttributeCountLimit(2))
	r := tmpl
	r.SetAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("c", 3), attribute.Int("d", 4))
	if r.DroppedAttributes() != 2 {
		t.Fatalf("the SDK dropped %d attributes, want 2", r.DroppedAttributes())
	}
	b, err := recordcodec.Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	got := tmpl
	dropped, err := recordcodec.Decode(b, &got)
	if err != nil || dropped != 2 {
		t.Fatalf("Decode = %d, %v; want 2, nil", dropped, err)
	}
	if d := diff(&r, &got); d != "" {
		t.Fatal(d)
	}
}

func TestUnsupported(t *testing.T) {
	deep := attribute.StringValue("leaf")
	for range recordcodec.MaxDepth + 1 {
		deep = attribute.SliceValue(deep)
	}
	tmpl := template(t, sdklog.WithAttributeValueDepthLimit(-1))
	for name, set := range map[string]func(*sdklog.Record){
		"deep body":      func(r *sdklog.Record) { r.SetBody(deep) },
		"deep attribute": func(r *sdklog.Record) { r.SetAttributes(attribute.KeyValue{Key: "d", Value: deep}) },
		"year 1600":      func(r *sdklog.Record) { r.SetTimestamp(time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)) },
		"year 2300":      func(r *sdklog.Record) { r.SetObservedTimestamp(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := tmpl
			set(&r)
			dst := []byte("keep")
			got, err := recordcodec.Append(dst, &r)
			if !errors.Is(err, recordcodec.ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed to %q", got)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tmpl := template(t)
	r := tmpl
	r.SetBody(attribute.MapValue(attribute.StringSlice("s", []string{"a"})))
	good, err := recordcodec.Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range good {
		// Every truncation is either a shorter valid record or malformed:
		// never a panic.
		got := tmpl
		_, _ = recordcodec.Decode(good[:i], &got)
	}
	for _, b := range [][]byte{{0xff}, {0x4a, 0x05, 0x01}, {0x2a, 0x80}, {0x2a, 0x08, 0x2a, 0x04, 0x0a, 0x02, 0x18, 0x01, 0x78, 0x05}} {
		got := tmpl
		if _, err := recordcodec.Decode(b, &got); !errors.Is(err, recordcodec.ErrMalformed) {
			t.Errorf("Decode(%x) = %v, want ErrMalformed", b, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	tmpl := template(f)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		r := randRecord(rng, tmpl)
		b, err := recordcodec.Append(nil, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := tmpl
		if _, err := recordcodec.Decode(b, &got); err != nil {
			return
		}
		// What decodes encodes again, and decodes to the same record.
		again, err := recordcodec.Append(nil, &got)
		if err != nil {
			t.Fatalf("re-encoding a decoded record: %v", err)
		}
		back := tmpl
		if _, err := recordcodec.Decode(again, &back); err != nil {
			t.Fatalf("decoding a re-encoded record: %v", err)
		}
		if d := diff(&got, &back); d != "" {
			t.Fatal(d)
		}
	})
}

// smallRecord is a service's typical record: a short message, three
// attributes, a trace context.
func smallRecord(tb testing.TB) sdklog.Record {
	r := template(tb)
	r.SetTimestamp(time.Unix(1_800_000_000, 0))
	r.SetObservedTimestamp(time.Unix(1_800_000_000, 5))
	r.SetSeverity(log.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetBody(attribute.StringValue("request received"))
	r.SetAttributes(attribute.Int("seq", 123456), attribute.String("http.method", "GET"), attribute.String("url.path", "/items/42"))
	r.SetTraceID(trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	r.SetSpanID(trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	r.SetTraceFlags(trace.FlagsSampled)
	return r
}

func BenchmarkAppend(b *testing.B) {
	r := smallRecord(b)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = recordcodec.Append(buf[:0], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/record")
}

func BenchmarkDecode(b *testing.B) {
	r := smallRecord(b)
	enc, err := recordcodec.Append(nil, &r)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := template(b)
	b.ReportAllocs()
	for b.Loop() {
		got := tmpl
		if _, err := recordcodec.Decode(enc, &got); err != nil {
			b.Fatal(err)
		}
	}
}
