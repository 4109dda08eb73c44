// Package memguard bounds the memory that log records queued for export may
// use. It has three parts: an estimate of what a queued record costs
// (RecordSize), a byte budget shared by the queues (Budget), and a view of
// how close the whole heap is to the program's memory limit (HeapMonitor).
//
// A count of records does not bound memory: 2048 queued records of 1 MiB
// each are 2 GiB. A processor that queues records should therefore admit a
// record only if its size fits in a byte budget, and shed optional records
// when the heap as a whole is under pressure.
//
// # Estimating a record
//
// RecordSize(r) estimates the heap bytes that r.Clone(), stored by value in a
// queue slot, keeps alive once the original record is gone. It counts the
// Record struct itself (the slot, which holds the first five attributes
// inline), the slice of any further attributes that Clone copies, and the
// bytes behind the event name, the severity text, the body and every
// attribute value: strings, byte slices, and the arrays of slice and map
// values with everything nested in them. Each allocation is rounded up the
// way the Go allocator rounds it (size classes, whole pages for objects above
// 32 KiB, the 8-byte header of pointer-holding objects above 512 bytes).
//
// Attribute keys are not counted: in practice they are string constants that
// live in the program's binary, so a queue does not keep them alive. Neither
// are the Resource and instrumentation scope, which all records of a
// LoggerProvider share. Body and value strings are counted even when they
// are constants, since RecordSize cannot tell and over-counting is the safe
// direction for a budget.
//
// The tests hold the estimate to ±25% of the live heap the runtime reports
// for records of several shapes (DESIGN.md gives the measured accuracy and
// cost). It under-counts only keys built at run time.
//
// RecordSize makes no allocation, so it can run on every log call. It walks nested values without
// recursion, so a value nested a million levels deep costs time in
// proportion to its size but a bounded amount of stack (only values with
// more than eight levels pending at once make it allocate), and its sum
// saturates at math.MaxInt64 instead of wrapping. To walk slice and map values without the
// copies that their public accessors make, it reads their arrays in place; the
// layout it relies on is verified when the package is initialised, and a
// fallback through the public accessors (correct, but allocating) takes over
// if a future attribute package stores values differently.
//
// # Budgets
//
// A Budget is a lock-free counter of reserved bytes with a fixed limit.
// TryAcquire(n) reserves n bytes if they fit and never blocks, Release(n)
// returns them. Several processors can share one Budget so that all queues
// together stay under one limit. Used never exceeds Limit, even under
// concurrent use.
//
// # Heap pressure
//
// A HeapMonitor reports Pressure, the bytes of heap objects divided by the
// memory limit (GOMEMLIMIT, or WithLimit), and High, whether the pressure has
// reached a threshold (0.85 by default). It reads runtime/metrics at most once
// per 100 ms, lazily from whichever caller
// finds the reading stale, so that hot-path callers pay a clock read and an
// atomic load. Without a known limit the pressure is 0 and High is false:
// nothing is shed on a guess.
package memguard
