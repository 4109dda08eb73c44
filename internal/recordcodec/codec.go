package recordcodec

import (
	"errors"
	"math"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// LogRecord fields.
const (
	fieldTime       protowire.Number = 1
	fieldSevNumber  protowire.Number = 2
	fieldSevText    protowire.Number = 3
	fieldBody       protowire.Number = 5
	fieldAttributes protowire.Number = 6
	fieldDropped    protowire.Number = 7
	fieldFlags      protowire.Number = 8
	fieldTraceID    protowire.Number = 9
	fieldSpanID     protowire.Number = 10
	fieldObserved   protowire.Number = 11
	fieldEventName  protowire.Number = 12
)

// AnyValue fields; ArrayValue and KeyValueList hold their elements in
// field 1; KeyValue has its key in 1 and value in 2.
const (
	anyString    protowire.Number = 1
	anyBool      protowire.Number = 2
	anyInt       protowire.Number = 3
	anyDouble    protowire.Number = 4
	anyArray     protowire.Number = 5
	anyKVList    protowire.Number = 6
	anyBytes     protowire.Number = 7
	anyTypedList protowire.Number = 15 // steadylog's: the attribute.Type of a typed slice

	listValues protowire.Number = 1
	kvKey      protowire.Number = 1
	kvValue    protowire.Number = 2
)

// MaxDepth is the deepest nesting of slice and map values the codec
// encodes and decodes. The SDK's default depth limit is 64.
const MaxDepth = 128

var (
	// ErrUnsupported is returned by Append for a record it cannot encode
	// faithfully: values nested deeper than MaxDepth, or a timestamp
	// outside the range of int64 nanoseconds since 1970 (years 1678–2262).
	ErrUnsupported = errors.New("steadylog/recordcodec: record cannot be encoded faithfully")
	// ErrMalformed is returned by Decode for bytes that are not a record
	// Append wrote.
	ErrMalformed = errors.New("steadylog/recordcodec: malformed record")
)

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Append appends r, encoded, to dst. On error it returns dst unchanged.
func Append(dst []byte, r *sdklog.Record) ([]byte, error) {
	b := dst
	var err error
	if b, err = appendTime(b, fieldTime, r.Timestamp()); err != nil {
		return dst, err
	}
	if sev := r.Severity(); sev != 0 {
		b = protowire.AppendTag(b, fieldSevNumber, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(sev)))
	}
	b = appendString(b, fieldSevText, r.SeverityText())
	if body := r.Body(); body.Type() != attribute.EMPTY {
		var start int
		b, start = beginMessage(b, fieldBody)
		if b, err = appendAnyValue(b, body, 1); err != nil {
			return dst, err
		}
		b = endMessage(b, start)
	}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		var start int
		b, start = beginMessage(b, fieldAttributes)
		if b, err = appendKeyValue(b, kv, 1); err != nil {
			return false
		}
		b = endMessage(b, start)
		return true
	})
	if err != nil {
		return dst, err
	}
	if n := r.DroppedAttributes(); n > 0 {
		b = protowire.AppendTag(b, fieldDropped, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(n))
	}
	if f := r.TraceFlags(); f != 0 {
		b = protowire.AppendTag(b, fieldFlags, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, uint32(f))
	}
	if id := r.TraceID(); id.IsValid() {
		b = protowire.AppendTag(b, fieldTraceID, protowire.BytesType)
		b = protowire.AppendBytes(b, id[:])
	}
	if id := r.SpanID(); id.IsValid() {
		b = protowire.AppendTag(b, fieldSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, id[:])
	}
	if b, err = appendTime(b, fieldObserved, r.ObservedTimestamp()); err != nil {
		return dst, err
	}
	b = appendString(b, fieldEventName, r.EventName())
	return b, nil
}

// appendTime appends t as fixed64 nanoseconds since 1970. The zero time is
// left out, so that it decodes as the zero time, not as 1970.
func appendTime(b []byte, num protowire.Number, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return b, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return b, ErrUnsupported
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(t.UnixNano())), nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// beginMessage appends the tag of an embedded message and one byte for its
// length, which endMessage fills in: most messages here are shorter than
// 128 bytes, and a longer one is moved up by the few bytes its length
// needs.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return append(b, 0), len(b)
}

func endMessage(b []byte, start int) []byte {
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	var pad [9]byte
	b = append(b, pad[:k-1]...)
	copy(b[start+k:], b[start+1:start+1+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}

func appendKeyValue(b []byte, kv attribute.KeyValue, depth int) ([]byte, error) {
	b = protowire.AppendTag(b, kvKey, protowire.BytesType)
	b = protowire.AppendString(b, string(kv.Key))
	var start int
	b, start = beginMessage(b, kvValue)
	b, err := appendAnyValue(b, kv.Value, depth)
	if err != nil {
		return b, err
	}
	return endMessage(b, start), nil
}

// appendAnyValue appends the fields of an AnyValue message holding v.
func appendAnyValue(b []byte, v attribute.Value, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return b, ErrUnsupported
	}
	switch v.Type() {
	case attribute.EMPTY:
	case attribute.BOOL:
		b = appendBool(b, v.AsBool())
	case attribute.INT64:
		b = appendInt(b, v.AsInt64())
	case attribute.FLOAT64:
		b = appendDouble(b, v.AsFloat64())
	case attribute.STRING:
		b = appendStr(b, v.AsString())
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		return appendTypedList(b, v.AsBoolSlice(), appendBool, v.Type()), nil
	case attribute.INT64SLICE:
		return appendTypedList(b, v.AsInt64Slice(), appendInt, v.Type()), nil
	case attribute.FLOAT64SLICE:
		return appendTypedList(b, v.AsFloat64Slice(), appendDouble, v.Type()), nil
	case attribute.STRINGSLICE:
		return appendTypedList(b, v.AsStringSlice(), appendStr, v.Type()), nil
	case attribute.SLICE:
		b, start := beginMessage(b, anyArray)
		for _, e := range v.AsSlice() {
			var es int
			var err error
			b, es = beginMessage(b, listValues)
			if b, err = appendAnyValue(b, e, depth+1); err != nil {
				return b, err
			}
			b = endMessage(b, es)
		}
		return endMessage(b, start), nil
	case attribute.MAP:
		b, start := beginMessage(b, anyKVList)
		for _, kv := range v.AsMap() {
			var es int
			var err error
			b, es = beginMessage(b, listValues)
			if b, err = appendKeyValue(b, kv, depth+1); err != nil {
				return b, err
			}
			b = endMessage(b, es)
		}
		return endMessage(b, start), nil
	default:
		return b, ErrUnsupported
	}
	return b, nil
}

// The fields of an AnyValue holding a scalar.
func appendBool(b []byte, v bool) []byte {
	b = protowire.AppendTag(b, anyBool, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}

func appendInt(b []byte, v int64) []byte {
	b = protowire.AppendTag(b, anyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendDouble(b []byte, v float64) []byte {
	b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func appendStr(b []byte, v string) []byte {
	b = protowire.AppendTag(b, anyString, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// appendTypedList appends the ArrayValue of a typed slice — each element
// an AnyValue written by elem — and the slice's type t.
func appendTypedList[T any](b []byte, elems []T, elem func([]byte, T) []byte, t attribute.Type) []byte {
	b, start := beginMessage(b, anyArray)
	for _, e := range elems {
		var es int
		b, es = beginMessage(b, listValues)
		b = endMessage(elem(b, e), es)
	}
	return appendTyped(endMessage(b, start), t)
}

func appendTyped(b []byte, t attribute.Type) []byte {
	b = protowire.AppendTag(b, anyTypedList, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(t))
}

// Decode sets every field of r that Append encodes from b, and returns the
// count of attributes the original record had dropped, which r cannot be
// given. r must carry the resource, instrumentation scope and attribute
// limits of the original — be a copy of a record from the same Logger —
// for the SDK has no setters for them; whatever else r held is replaced.
// Strings in r alias b, which must not be modified while r is in use.
//
// Decode never panics on malformed input; it returns ErrMalformed and
// leaves r in an unspecified state.
func Decode(b []byte, r *sdklog.Record) (dropped int, err error) {
	var (
		f     fields
		room  [8]attribute.KeyValue
		attrs []attribute.KeyValue
	)
	if attrs, err = f.decode(b, room[:0]); err != nil {
		return 0, err
	}
	f.set(r, attrs)
	return int(min(f.dropped, math.MaxInt32)), nil
}

// fields holds a LogRecord's fields but its attributes between decoding
// and setting them on a record, so that the batch decoder can choose the
// record's template from what it holds (see Templates). The attributes are
// kept apart, in room the caller gives, which stays on its stack.
type fields struct {
	ts, observed   time.Time
	sev            log.Severity
	sevText, event string
	body           attribute.Value
	flags          trace.TraceFlags
	traceID        trace.TraceID
	spanID         trace.SpanID
	dropped        uint64
}

// decode reads the LogRecord message b into f, which must be zero, and
// returns its attributes appended to attrs.
func (f *fields) decode(b []byte, attrs []attribute.KeyValue) ([]attribute.KeyValue, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, ErrMalformed
		}
		b = b[n:]
		switch {
		case (num == fieldTime || num == fieldObserved) && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return nil, ErrMalformed
			}
			b = b[n:]
			if num == fieldTime {
				f.ts = time.Unix(0, int64(v))
			} else {
				f.observed = time.Unix(0, int64(v))
			}
		case num == fieldSevNumber && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, ErrMalformed
			}
			b = b[n:]
			f.sev = log.Severity(int64(v))
		case num == fieldDropped && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, ErrMalformed
			}
			b = b[n:]
			f.dropped = v
		case num == fieldFlags && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return nil, ErrMalformed
			}
			b = b[n:]
			f.flags = trace.TraceFlags(v)
		case typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, ErrMalformed
			}
			b = b[n:]
			switch num {
			case fieldSevText:
				f.sevText = alias(v)
			case fieldEventName:
				f.event = alias(v)
			case fieldBody:
				var err error
				if f.body, err = decodeAnyValue(v, 1); err != nil {
					return nil, err
				}
			case fieldAttributes:
				kv, err := decodeKeyValue(v, 1)
				if err != nil {
					return nil, err
				}
				attrs = append(attrs, kv)
			case fieldTraceID:
				if len(v) != len(f.traceID) {
					return nil, ErrMalformed
				}
				copy(f.traceID[:], v)
			case fieldSpanID:
				if len(v) != len(f.spanID) {
					return nil, ErrMalformed
				}
				copy(f.spanID[:], v)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, ErrMalformed
			}
			b = b[n:]
		}
	}
	return attrs, nil
}

// set sets every field of r that Append encodes, but the dropped count.
func (f *fields) set(r *sdklog.Record, attrs []attribute.KeyValue) {
	r.SetTimestamp(f.ts)
	r.SetObservedTimestamp(f.observed)
	r.SetSeverity(f.sev)
	r.SetSeverityText(f.sevText)
	r.SetBody(f.body)
	r.SetAttributes(attrs...)
	r.SetTraceID(f.traceID)
	r.SetSpanID(f.spanID)
	r.SetTraceFlags(f.flags)
	r.SetEventName(f.event)
}

// alias returns the bytes of v as a string without copying them.
func alias(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(v), len(v))
}

func decodeKeyValue(b []byte, depth int) (attribute.KeyValue, error) {
	var kv attribute.KeyValue
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return kv, ErrMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType || (num != kvKey && num != kvValue) {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return kv, ErrMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return kv, ErrMalformed
		}
		b = b[n:]
		if num == kvKey {
			kv.Key = attribute.Key(alias(v))
			continue
		}
		var err error
		if kv.Value, err = decodeAnyValue(v, depth); err != nil {
			return kv, err
		}
	}
	return kv, nil
}

// decodeAnyValue decodes an AnyValue message. A value that sets several of
// its fields takes the last, as protobuf's oneof does.
func decodeAnyValue(b []byte, depth int) (attribute.Value, error) {
	if depth > MaxDepth {
		return attribute.Value{}, ErrMalformed
	}
	var (
		v     attribute.Value
		list  []byte
		isMap bool
		typed attribute.Type
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return v, ErrMalformed
		}
		b = b[n:]
		switch {
		case num == anyBool && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return v, ErrMalformed
			}
			b = b[n:]
			v, list = attribute.BoolValue(protowire.DecodeBool(x)), nil
		case num == anyInt && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return v, ErrMalformed
			}
			b = b[n:]
			v, list = attribute.Int64Value(int64(x)), nil
		case num == anyTypedList && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return v, ErrMalformed
			}
			b = b[n:]
			typed = attribute.Type(x)
		case num == anyDouble && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return v, ErrMalformed
			}
			b = b[n:]
			v, list = attribute.Float64Value(math.Float64frombits(x)), nil
		case typ == protowire.BytesType && num >= anyString && num <= anyBytes:
			x, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return v, ErrMalformed
			}
			b = b[n:]
			switch num {
			case anyString:
				v, list = attribute.StringValue(alias(x)), nil
			case anyBytes:
				v, list = attribute.ByteSliceValue(x), nil
			case anyArray:
				list, isMap = x, false
			case anyKVList:
				list, isMap = x, true
			default:
				return v, ErrMalformed
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return v, ErrMalformed
			}
			b = b[n:]
		}
	}
	if list == nil {
		return v, nil
	}
	return decodeList(list, isMap, typed, depth)
}

// decodeList decodes the elements of an ArrayValue or a KeyValueList.
func decodeList(b []byte, isMap bool, typed attribute.Type, depth int) (attribute.Value, error) {
	var (
		vals []attribute.Value
		kvs  []attribute.KeyValue
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return attribute.Value{}, ErrMalformed
		}
		b = b[n:]
		if num != listValues || typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return attribute.Value{}, ErrMalformed
			}
			b = b[n:]
			continue
		}
		x, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return attribute.Value{}, ErrMalformed
		}
		b = b[n:]
		if isMap {
			kv, err := decodeKeyValue(x, depth+1)
			if err != nil {
				return attribute.Value{}, err
			}
			kvs = append(kvs, kv)
			continue
		}
		e, err := decodeAnyValue(x, depth+1)
		if err != nil {
			return attribute.Value{}, err
		}
		vals = append(vals, e)
	}
	if isMap {
		return attribute.MapValue(kvs...), nil
	}
	if typed == attribute.EMPTY || typed == attribute.SLICE {
		return attribute.SliceValue(vals...), nil
	}
	return typedSlice(vals, typed)
}

// typedSlice rebuilds a typed slice from its elements.
func typedSlice(vals []attribute.Value, t attribute.Type) (attribute.Value, error) {
	var elem attribute.Type
	switch t {
	case attribute.BOOLSLICE:
		elem = attribute.BOOL
	case attribute.INT64SLICE:
		elem = attribute.INT64
	case attribute.FLOAT64SLICE:
		elem = attribute.FLOAT64
	case attribute.STRINGSLICE:
		elem = attribute.STRING
	default:
		return attribute.Value{}, ErrMalformed
	}
	for _, v := range vals {
		if v.Type() != elem {
			return attribute.Value{}, ErrMalformed
		}
	}
	switch t {
	case attribute.BOOLSLICE:
		return attribute.BoolSliceValue(elements(vals, attribute.Value.AsBool)), nil
	case attribute.INT64SLICE:
		return attribute.Int64SliceValue(elements(vals, attribute.Value.AsInt64)), nil
	case attribute.FLOAT64SLICE:
		return attribute.Float64SliceValue(elements(vals, attribute.Value.AsFloat64)), nil
	default:
		return attribute.StringSliceValue(elements(vals, attribute.Value.AsString)), nil
	}
}

// elements returns the scalars of vals, read with as.
func elements[T any](vals []attribute.Value, as func(attribute.Value) T) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = as(v)
	}
	return out
}
