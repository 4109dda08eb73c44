package memguard

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
)

// TestHeapMonitorHugeInterval: now + interval used to wrap negative, so a
// monitor with an interval near math.MaxInt64 read the runtime's metrics on
// every call instead of once.
func TestHeapMonitorHugeInterval(t *testing.T) {
	f := newFake(500, 1000)
	f.advance(time.Second) // the monotonic clock is past 0 by construction time
	m, err := NewHeapMonitor(append(f.options(), withRefreshInterval(math.MaxInt64))...)
	require.NoError(t, err)
	for range 100 {
		f.advance(time.Hour)
		assert.InDelta(t, 0.5, m.Pressure(), 1e-12)
	}
	assert.Equal(t, int64(1), f.reads.Load(), "read once, at construction")
}

func TestHeapMonitorLimitEdges(t *testing.T) {
	cases := []struct {
		name         string
		heap, limit  uint64 // the runtime's reading
		opts         []HeapOption
		wantPressure float64
	}{
		{"WithLimit(MaxInt64) is a limit like any other", 1 << 62, math.MaxInt64,
			[]HeapOption{WithLimit(math.MaxInt64)}, 0.5},
		{"a runtime limit just below no-limit is a limit", 1 << 62, math.MaxInt64 - 1, nil,
			float64(1<<62) / float64(math.MaxInt64-1)},
		{"a runtime limit above MaxInt64 is no limit", 1 << 62, math.MaxUint64, nil, 0},
		{"a huge heap against a 1-byte limit", math.MaxUint64, 0, []HeapOption{WithLimit(1)}, math.MaxUint64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.heap, tc.limit)
			m, err := NewHeapMonitor(append(f.options(), tc.opts...)...)
			require.NoError(t, err)
			p := m.Pressure()
			assert.False(t, math.IsInf(p, 0) || math.IsNaN(p), "pressure %v", p)
			assert.InEpsilon(t, max(tc.wantPressure, 1e-300), max(p, 1e-300), 1e-9)
			assert.Equal(t, tc.wantPressure >= DefaultThreshold, m.High())
		})
	}
}

func TestBudgetHugeLimitNeverWraps(t *testing.T) {
	b, err := NewBudget(math.MaxInt64)
	require.NoError(t, err)
	assert.True(t, b.TryAcquire(math.MaxInt64), "the whole budget")
	assert.False(t, b.TryAcquire(1))
	assert.False(t, b.TryAcquire(math.MaxInt64))
	assert.Equal(t, int64(math.MaxInt64), b.Used())
	b.Release(math.MaxInt64)
	assert.Zero(t, b.Used())

	require.True(t, b.TryAcquire(math.MaxInt64-1))
	assert.False(t, b.TryAcquire(2), "used+n would overflow: refused, not wrapped")
	assert.False(t, b.TryAcquire(math.MaxInt64))
	assert.Equal(t, int64(math.MaxInt64-1), b.Used())
	assert.True(t, b.TryAcquire(1))
	assert.False(t, b.TryAcquire(-math.MaxInt64), "negative requests are refused")
	assert.False(t, b.TryAcquire(math.MinInt64))
	b.Release(math.MinInt64)
	assert.Equal(t, int64(math.MaxInt64), b.Used(), "negative releases are ignored")
	b.Release(math.MaxInt64)
	b.Release(math.MaxInt64)
	assert.Zero(t, b.Used(), "over-release clamps at zero")
}

func TestZeroBudgetGrantsNothing(t *testing.T) {
	var b Budget
	assert.True(t, b.TryAcquire(0))
	assert.False(t, b.TryAcquire(1))
	b.Release(5)
	assert.Zero(t, b.Used())
}

func TestAllocSizeSaturates(t *testing.T) {
	const aligned = math.MaxInt64 &^ (pageSize - 1)
	assert.Equal(t, int64(aligned), allocSize(aligned, false))
	assert.Equal(t, int64(aligned), allocSize(aligned-1, true))
	assert.Equal(t, int64(math.MaxInt64), allocSize(aligned+1, false), "rounding up would wrap")
	assert.Equal(t, int64(math.MaxInt64), allocSize(math.MaxInt64, true))
	assert.Equal(t, int64(math.MaxInt64), addSat(math.MaxInt64-1, 2))
	assert.Equal(t, int64(math.MaxInt64), addSat(math.MaxInt64, math.MaxInt64))
	assert.Equal(t, int64(5), addSat(2, 3))
}

// deepChain returns a value nested depth levels deep: a slice holding one
// slice holding one slice ... holding an integer.
func deepChain(depth int) attribute.Value {
	v := attribute.IntValue(1)
	for range depth {
		v = attribute.SliceValue(v)
	}
	return v
}

// deepBranch is like deepChain, but each level also holds a string after
// the nested value, so that every level stays pending while the walk is
// deeper down. Odd levels are maps, even levels slices.
func deepBranch(depth int) attribute.Value {
	v := attribute.IntValue(1)
	for i := range depth {
		if i%2 == 0 {
			v = attribute.SliceValue(v, attribute.StringValue("x"))
		} else {
			v = attribute.MapValue(attribute.KeyValue{Key: "k", Value: v}, attribute.String("s", "x"))
		}
	}
	return v
}

func deepBranchSize(depth int) int64 {
	var size int64
	for i := range depth {
		if i%2 == 0 {
			size += allocSize(2*valueSizeBytes, true)
		} else {
			size += allocSize(2*keyValueSize, true)
		}
		size += stringSize("x")
	}
	return size
}

// TestRecordSizeDeepNestingHasBoundedStack: the walk used to recurse once
// per level, so a value nested a million levels deep needed hundreds of
// megabytes of stack, and a few million a fatal stack overflow that no
// recover catches. It now walks with an explicit list: with the stack
// limited to 8 MiB, the recursion would die here.
func TestRecordSizeDeepNestingHasBoundedStack(t *testing.T) {
	const depth = 1_000_000
	chain, branch := deepChain(depth), deepBranch(depth/100)
	wantChain := int64(depth) * allocSize(valueSizeBytes, true)
	wantBranch := deepBranchSize(depth / 100)

	defer debug.SetMaxStack(debug.SetMaxStack(8 << 20))
	for _, known := range []bool{true, false} {
		layoutKnown = known
		assert.Equal(t, wantChain, valueSize(&chain), "chain, in-place walk %v", known)
		assert.Equal(t, wantBranch, valueSize(&branch), "branch, in-place walk %v", known)
	}
	layoutKnown = true
}

func TestRecordSizeNestedCountsEveryLevel(t *testing.T) {
	for _, depth := range []int{1, 2, 7, 8, 9, 30} {
		v := deepBranch(depth)
		assert.Equal(t, deepBranchSize(depth), valueSize(&v), "depth %d", depth)
		r := recordWith(t, attribute.Value{}, attribute.KeyValue{Key: "nested", Value: v})
		assert.Equal(t, recordSlotSize+deepBranchSize(depth), RecordSize(&r), "depth %d", depth)
	}
	// Every string of a wide nested value is counted once.
	wide := attribute.SliceValue(
		attribute.MapValue(attribute.String("a", strings.Repeat("a", 100)), attribute.String("b", strings.Repeat("b", 200))),
		attribute.StringSliceValue([]string{strings.Repeat("c", 30)}),
		attribute.SliceValue(),
		attribute.StringValue(strings.Repeat("d", 50)))
	want := allocSize(4*valueSizeBytes, true) +
		allocSize(2*keyValueSize, true) + stringSize(strings.Repeat("a", 100)) + stringSize(strings.Repeat("b", 200)) +
		allocSize(stringHeader, true) + stringSize(strings.Repeat("c", 30)) +
		stringSize(strings.Repeat("d", 50))
	assert.Equal(t, want, valueSize(&wide))
}

func TestRecordSizeNestedDoesNotAllocate(t *testing.T) {
	// Up to inlineWalkDepth pending levels, and any depth of last elements,
	// the walk stays on the goroutine's stack.
	for name, v := range map[string]attribute.Value{
		"branching":  deepBranch(inlineWalkDepth),
		"deep chain": deepChain(1000),
	} {
		r := recordWith(t, v)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = RecordSize(&r) }), name)
	}
}
