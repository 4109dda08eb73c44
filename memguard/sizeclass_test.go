package memguard

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAllocSizeTable(t *testing.T) {
	cases := []struct {
		n        int64
		pointers bool
		want     int64
	}{
		{0, false, 0}, {-5, true, 0}, {1, false, 8}, {8, false, 8}, {9, false, 16},
		{60, false, 64}, {1016, false, 1024}, {1017, false, 1024}, {1025, false, 1152},
		{4096, false, 4096}, {4097, false, 4864}, {32768, false, 32768},
		{32761, false, 32768}, {32769, false, 40960}, {512, true, 512}, {520, true, 576}, {4096, true, 4864},
		{32760, true, 32768}, {32761, true, 32768}, {40000, true, 40960},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, allocSize(tc.n, tc.pointers), "allocSize(%d, %v)", tc.n, tc.pointers)
	}
}

var sinkBytes [][]byte
var sinkPtrs [][]*byte

// TestAllocSizeMatchesRuntime checks the size-class model against what the
// runtime reports for live objects of various sizes, with and without
// pointers.
func TestAllocSizeMatchesRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	sizes := []int{24, 60, 100, 500, 600, 1000, 1100, 3000, 4097, 10000, 20000, 32760, 32768, 40000}
	for _, size := range sizes {
		for _, pointers := range []bool{false, true} {
			// Enough objects that the measured delta (at least 512 KiB)
			// dwarfs the few KiB the runtime and test framework allocate
			// on their own between the two readings.
			n := max(400, (512<<10)/size)
			if size > 8000 {
				n = max(60, (512<<10)/size)
			}
			before := heapAfterGC()
			if pointers {
				sinkPtrs = make([][]*byte, n)
				for i := range sinkPtrs {
					sinkPtrs[i] = make([]*byte, size/8)
				}
			} else {
				sinkBytes = make([][]byte, n)
				for i := range sinkBytes {
					sinkBytes[i] = make([]byte, size)
				}
			}
			after := heapAfterGC()
			// Subtract the holder slice itself.
			perObject := (float64(after-before) - float64(allocSize(int64(n)*24, true))) / float64(n)
			elem := int64(size)
			if pointers {
				elem = int64(size/8) * 8
			}
			assert.InDelta(t, float64(allocSize(elem, pointers)), perObject, 2+0.01*float64(size),
				"size %d pointers %v", size, pointers)
			sinkPtrs, sinkBytes = nil, nil
		}
	}
	runtime.KeepAlive(sinkPtrs)
}
