package memguard

import (
	"math"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/sdkrecord"
)

// inlineAttrs is the number of attributes an sdklog.Record stores inline.
// Only the attributes beyond them live in the separately allocated slice
// that Record.Clone copies.
const inlineAttrs = sdkrecord.InlineAttrs

var (
	// recordSlotSize is what one record costs in a queue that stores clones
	// by value: the whole struct, inline attributes included.
	recordSlotSize = int64(unsafe.Sizeof(sdklog.Record{}))
	keyValueSize   = int64(unsafe.Sizeof(attribute.KeyValue{}))
)

// RecordSize estimates the heap bytes that a clone of r (r.Clone(), stored by
// value in a queue slot) keeps alive. It returns 0 for a nil record.
//
// Counted:
//   - the Record struct itself (the queue slot, with its five inline
//     attributes);
//   - the slice of attributes beyond the inline five, which Clone copies;
//   - the bytes of the event name, the severity text, the body and every
//     attribute value that is a string or a byte slice;
//   - the arrays behind slice and map values, recursively, with the strings,
//     slices and maps they hold.
//
// Every allocation is rounded up the way the Go allocator rounds it (size
// classes, pages, malloc headers); string and slice headers are not added
// separately because they are stored inline in the struct or array that is
// already counted.
//
// Not counted:
//   - attribute keys, including the keys of map values: almost every key in
//     practice is a string constant (slog keys, attribute.Key variables,
//     semantic-convention names), which lives in the binary's read-only data,
//     not the heap, so a queue does not keep it alive. Counting it would make
//     every small record look several percent larger than it is. A program
//     that builds keys at run time is under-counted by those key bytes;
//   - the Resource and the instrumentation scope, which all records of a
//     LoggerProvider share.
//
// Body and value strings are counted even when they happen to be constants:
// RecordSize cannot tell, and over-counting is the safe direction for a
// memory budget.
//
// Values nested to any depth are walked without recursion, so a
// pathological body (a slice nested a million levels deep) costs time in
// proportion to its size but no more than a fixed amount of goroutine
// stack. The sum saturates at math.MaxInt64 rather than wrap.
//
// RecordSize holds no lock and makes no allocation, so it can run on every
// log call; the one exception is a value with more than eight nested levels
// still to visit at once (a level whose last element is being walked does
// not count), for which the list of those levels moves to the heap.
func RecordSize(r *sdklog.Record) int64 {
	if r == nil {
		return 0
	}
	size := recordSlotSize
	size = addSat(size, stringSize(r.EventName()))
	size = addSat(size, stringSize(r.SeverityText()))
	body := r.Body()
	size = addSat(size, valueSize(&body))
	if n := r.AttributesLen(); n > inlineAttrs {
		size = addSat(size, allocSize(int64(n-inlineAttrs)*keyValueSize, true))
	}
	// The closure does not escape (WalkAttributes only calls it), so it and
	// the captured total stay on the stack.
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		size = addSat(size, valueSize(&kv.Value))
		return true
	})
	return size
}

// stringSize is the heap cost of a string's bytes.
func stringSize(s string) int64 {
	return allocSize(int64(len(s)), false)
}

// valueSize is the heap cost of what v refers to (not of v itself, which is
// stored inline in an attribute, a record or an array already counted).
func valueSize(v *attribute.Value) int64 {
	// AsString returns the string field whatever the type; it holds the
	// data of STRING and BYTESLICE values and is empty otherwise.
	size := stringSize(v.AsString())
	if isArray(v.Type()) {
		size = addSat(size, arrayTreeSize(v))
	}
	return size
}

// isArray reports whether values of type t hold an array.
func isArray(t attribute.Type) bool {
	switch t {
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE,
		attribute.STRINGSLICE, attribute.SLICE, attribute.MAP:
		return true
	}
	return false
}

// arrayTreeSize is the heap cost of the array of v, of a type for which
// isArray holds, and of everything its elements refer to.
func arrayTreeSize(v *attribute.Value) int64 {
	size, f := arraySize(v)
	if f.empty() {
		return size
	}
	return addSat(size, nestedSize(f))
}

// arraySize is the heap cost of the array of v, of a type for which isArray
// holds, without what the elements of a SLICE or MAP value refer to: for
// those it returns the frame of the elements, for nestedSize to walk.
func arraySize(v *attribute.Value) (int64, walkFrame) {
	if layoutKnown {
		return boxSize(*(*any)(unsafe.Add(unsafe.Pointer(v), sliceFieldOffset)))
	}
	return publicSliceSize(v)
}

// addSat is x+y for non-negative sizes, or math.MaxInt64 where that would
// overflow: an estimate that wrapped around would let a huge record into a
// budget. Only values sharing one huge string many times could get there.
func addSat(x, y int64) int64 {
	if s := x + y; s >= x {
		return s
	}
	return math.MaxInt64
}
