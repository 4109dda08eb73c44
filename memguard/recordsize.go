package memguard

import (
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// inlineAttrs is the number of attributes an sdklog.Record stores inline
// (attributesInlineCount in go.opentelemetry.io/otel/sdk/log). Only the
// attributes beyond them live in the separately allocated slice that
// Record.Clone copies.
const inlineAttrs = 5

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
// RecordSize makes no allocation and holds no lock: it is meant to run on
// every log call.
func RecordSize(r *sdklog.Record) int64 {
	if r == nil {
		return 0
	}
	size := recordSlotSize
	size += stringSize(r.EventName())
	size += stringSize(r.SeverityText())
	body := r.Body()
	size += valueSize(&body)
	if n := r.AttributesLen(); n > inlineAttrs {
		size += allocSize(int64(n-inlineAttrs)*keyValueSize, true)
	}
	// The closure does not escape (WalkAttributes only calls it), so it and
	// the captured total stay on the stack.
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		size += valueSize(&kv.Value)
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
	switch v.Type() {
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE,
		attribute.STRINGSLICE, attribute.SLICE, attribute.MAP:
		if layoutKnown {
			size += boxSize(*(*any)(unsafe.Add(unsafe.Pointer(v), sliceFieldOffset)))
		} else {
			size += publicSliceSize(v)
		}
	}
	return size
}
