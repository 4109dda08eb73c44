package memguard

import (
	"reflect"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
)

// Walking slice and map values without allocating.
//
// An attribute.Value of a slice or map kind keeps its elements in an
// unexported field of type any that holds a fixed-size array ([N]string,
// [N]attribute.Value, [N]attribute.KeyValue, [N]int64, ...). The public
// accessors (AsSlice, AsMap, AsStringSlice, ...) return a fresh copy of that
// array as a slice, i.e. they allocate on every call, which is not acceptable
// on the logging hot path. RecordSize therefore reads the array in place: it
// finds the field's offset once with reflection, and reads the array's length
// and element type from its dynamic type (reflect.TypeOf does not allocate).
//
// The layout is checked once at start-up against values built with the public
// constructors. If a future version of the attribute package stores values
// differently, layoutKnown is false and RecordSize falls back to the public
// accessors: the estimate stays correct, only slower and allocating for slice
// and map values.

var (
	typeValue    = reflect.TypeFor[attribute.Value]()
	typeKeyValue = reflect.TypeFor[attribute.KeyValue]()
	typeString   = reflect.TypeFor[string]()

	valueSizeBytes = int64(unsafe.Sizeof(attribute.Value{}))
	stringHeader   = int64(unsafe.Sizeof(""))

	// sliceFieldOffset is the offset of attribute.Value's array field.
	sliceFieldOffset uintptr
	// layoutKnown reports whether the in-place walk may be used.
	layoutKnown = checkLayout()
)

// checkLayout finds attribute.Value's array field and verifies, on values
// built through the public API, that reading it in place yields the expected
// arrays.
func checkLayout() bool {
	f, ok := typeValue.FieldByName("slice")
	if !ok || f.Type != reflect.TypeFor[any]() {
		return false
	}
	read := func(v attribute.Value) any {
		return *(*any)(unsafe.Add(unsafe.Pointer(&v), f.Offset))
	}
	ss, ok := read(attribute.StringSliceValue([]string{"a", "bc"})).([2]string)
	if !ok || ss != [2]string{"a", "bc"} {
		return false
	}
	kv, ok := read(attribute.MapValue(attribute.String("k", "v"))).([1]attribute.KeyValue)
	if !ok || kv[0].Key != "k" || kv[0].Value.AsString() != "v" {
		return false
	}
	vs, ok := read(attribute.SliceValue(attribute.IntValue(7))).([1]attribute.Value)
	if !ok || vs[0].AsInt64() != 7 {
		return false
	}
	sliceFieldOffset = f.Offset
	return true
}

// boxSize is the heap cost of the array held in a slice or map value, plus
// what its elements refer to.
func boxSize(x any) int64 {
	t := reflect.TypeOf(x)
	if t == nil || t.Kind() != reflect.Array || t.Len() == 0 {
		// A zero-length array is not allocated.
		return 0
	}
	n := t.Len()
	// An interface holding a value that is not pointer-shaped (no array of
	// these element types is) stores a pointer to it in its data word.
	data := (*[2]unsafe.Pointer)(unsafe.Pointer(&x))[1]
	switch t.Elem() {
	case typeValue:
		size := allocSize(int64(t.Size()), true)
		vals := unsafe.Slice((*attribute.Value)(data), n)
		for i := range vals {
			size += valueSize(&vals[i])
		}
		return size
	case typeKeyValue:
		size := allocSize(int64(t.Size()), true)
		kvs := unsafe.Slice((*attribute.KeyValue)(data), n)
		for i := range kvs {
			size += valueSize(&kvs[i].Value)
		}
		return size
	case typeString:
		size := allocSize(int64(t.Size()), true)
		for _, s := range unsafe.Slice((*string)(data), n) {
			size += stringSize(s)
		}
		return size
	default:
		// bool, int64 and float64 arrays hold no pointers.
		return allocSize(int64(t.Size()), false)
	}
}

// publicSliceSize is the fallback of boxSize through the public accessors,
// which allocate a copy of the array on each call.
func publicSliceSize(v *attribute.Value) int64 {
	switch v.Type() {
	case attribute.BOOLSLICE:
		return allocSize(int64(len(v.AsBoolSlice())), false)
	case attribute.INT64SLICE:
		return allocSize(int64(len(v.AsInt64Slice()))*8, false)
	case attribute.FLOAT64SLICE:
		return allocSize(int64(len(v.AsFloat64Slice()))*8, false)
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		size := allocSize(int64(len(ss))*stringHeader, true)
		for _, s := range ss {
			size += stringSize(s)
		}
		return size
	case attribute.SLICE:
		vals := v.AsSlice()
		size := allocSize(int64(len(vals))*valueSizeBytes, true)
		for i := range vals {
			size += valueSize(&vals[i])
		}
		return size
	case attribute.MAP:
		kvs := v.AsMap()
		size := allocSize(int64(len(kvs))*keyValueSize, true)
		for i := range kvs {
			size += valueSize(&kvs[i].Value)
		}
		return size
	default:
		return 0
	}
}
