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

// walkFrame is one level of a SLICE or MAP value being walked: its elements
// not visited yet. At most one of vals and kvs is non-empty.
type walkFrame struct {
	vals []attribute.Value
	kvs  []attribute.KeyValue
}

func (f *walkFrame) empty() bool { return len(f.vals) == 0 && len(f.kvs) == 0 }

// inlineWalkDepth is the number of pending levels nestedSize keeps in an
// array on the goroutine's stack. Values nested deeper than that (beyond
// the last element of each level, which needs no frame of its own) grow
// the list on the heap: such values are rare, and allocating for them is
// better than recursing, which a value nested a million deep would turn
// into a fatal stack overflow.
const inlineWalkDepth = 8

// nestedSize is the heap cost of what the elements of first refer to,
// recursively. It walks the tree with an explicit list of frames instead of
// recursion, so the goroutine's stack stays bounded however deep the value
// is nested: log.Value trees cannot be cyclic, but they can be deep.
func nestedSize(first walkFrame) int64 {
	var buf [inlineWalkDepth]walkFrame
	stack := append(buf[:0], first)
	var size int64
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		var e *attribute.Value
		if len(top.vals) > 0 {
			e, top.vals = &top.vals[0], top.vals[1:]
		} else {
			e, top.kvs = &top.kvs[0].Value, top.kvs[1:]
		}
		// e points into the value's own array, not into stack: it stays
		// valid when the frame is dropped or stack grows.
		if top.empty() {
			stack = stack[:len(stack)-1]
		}
		size = addSat(size, stringSize(e.AsString()))
		if isArray(e.Type()) {
			own, f := arraySize(e)
			size = addSat(size, own)
			if !f.empty() {
				stack = append(stack, f)
			}
		}
	}
	return size
}

// boxSize is the heap cost of the array held in a slice or map value, and,
// for arrays of values or key-values, the frame of its elements, whose own
// cost the caller adds with nestedSize.
func boxSize(x any) (int64, walkFrame) {
	t := reflect.TypeOf(x)
	if t == nil || t.Kind() != reflect.Array || t.Len() == 0 {
		// A zero-length array is not allocated.
		return 0, walkFrame{}
	}
	n := t.Len()
	// An interface holding a value that is not pointer-shaped (no array of
	// these element types is) stores a pointer to it in its data word.
	data := (*[2]unsafe.Pointer)(unsafe.Pointer(&x))[1]
	switch t.Elem() {
	case typeValue:
		return allocSize(int64(t.Size()), true), walkFrame{vals: unsafe.Slice((*attribute.Value)(data), n)}
	case typeKeyValue:
		return allocSize(int64(t.Size()), true), walkFrame{kvs: unsafe.Slice((*attribute.KeyValue)(data), n)}
	case typeString:
		size := allocSize(int64(t.Size()), true)
		for _, s := range unsafe.Slice((*string)(data), n) {
			size = addSat(size, stringSize(s))
		}
		return size, walkFrame{}
	default:
		// bool, int64 and float64 arrays hold no pointers.
		return allocSize(int64(t.Size()), false), walkFrame{}
	}
}

// publicSliceSize is the fallback of boxSize through the public accessors,
// which allocate a copy of the array on each call.
func publicSliceSize(v *attribute.Value) (int64, walkFrame) {
	switch v.Type() {
	case attribute.BOOLSLICE:
		return allocSize(int64(len(v.AsBoolSlice())), false), walkFrame{}
	case attribute.INT64SLICE:
		return allocSize(int64(len(v.AsInt64Slice()))*8, false), walkFrame{}
	case attribute.FLOAT64SLICE:
		return allocSize(int64(len(v.AsFloat64Slice()))*8, false), walkFrame{}
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		size := allocSize(int64(len(ss))*stringHeader, true)
		for _, s := range ss {
			size = addSat(size, stringSize(s))
		}
		return size, walkFrame{}
	case attribute.SLICE:
		vals := v.AsSlice()
		return allocSize(int64(len(vals))*valueSizeBytes, true), walkFrame{vals: vals}
	case attribute.MAP:
		kvs := v.AsMap()
		return allocSize(int64(len(kvs))*keyValueSize, true), walkFrame{kvs: kvs}
	default:
		return 0, walkFrame{}
	}
}
