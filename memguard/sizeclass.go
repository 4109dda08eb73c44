package memguard

import "math"

// The Go allocator does not hand out exactly the bytes asked for: small
// objects are rounded up to one of ~68 size classes, large ones to whole
// pages, and pointer-holding objects above 512 bytes carry an 8-byte header.
// A budget that ignored this would under-count, e.g., a 60-byte string (which
// really costs 64 bytes) or a 4097-byte body (4864 bytes). The table below is
// the runtime's own (internal/runtime/gc/sizeclasses.go, Go 1.22 to 1.26); a
// test compares it with what runtime.MemStats reports, so a future change of
// the classes makes the tests fail rather than the estimates drift silently.
var sizeClasses = [...]int64{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144,
	6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384,
	18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
}

const (
	smallSizeMax     = 1024  // up to here classes are looked up in 8-byte steps
	smallSizeDiv     = 8     // step of the first lookup table
	largeSizeDiv     = 128   // step of the second lookup table
	maxSmallSize     = 32768 // largest size class
	pageSize         = 8192  // the runtime's page size
	mallocHeaderSize = 8     // header of pointer-holding objects above maxHeapBitsSize
	maxHeapBitsSize  = 512   // pointer-holding objects up to here need no header
)

// Two lookup tables, built once, make allocSize a branch and a load, like the
// runtime's own size_to_class8/size_to_class128: it runs several times per
// record on the logging hot path.
var (
	classBy8   [smallSizeMax/smallSizeDiv + 1]int64
	classBy128 [(maxSmallSize-smallSizeMax)/largeSizeDiv + 1]int64
)

func init() {
	for i := range classBy8 {
		classBy8[i] = classFor(int64(i * smallSizeDiv))
	}
	for i := range classBy128 {
		classBy128[i] = classFor(int64(smallSizeMax + i*largeSizeDiv))
	}
}

// classFor is the slow reference lookup used to build the tables.
func classFor(n int64) int64 {
	for _, c := range sizeClasses {
		if c >= n {
			return c
		}
	}
	return sizeClasses[len(sizeClasses)-1]
}

// allocSize returns the heap bytes the runtime really uses for an object of n
// bytes. pointers tells whether the object's type holds pointers (strings,
// attribute values), which decides whether it may carry a malloc header. It
// returns 0 for n <= 0 and saturates at math.MaxInt64.
func allocSize(n int64, pointers bool) int64 {
	if n <= 0 {
		return 0
	}
	if n > maxSmallSize-mallocHeaderSize {
		// A large object: its own run of pages, no header. Rounding up a
		// size within a page of math.MaxInt64 would wrap negative.
		if n > math.MaxInt64-(pageSize-1) {
			return math.MaxInt64
		}
		return (n + pageSize - 1) &^ (pageSize - 1)
	}
	if pointers && n > maxHeapBitsSize {
		n += mallocHeaderSize
	}
	if n <= smallSizeMax-smallSizeDiv {
		return classBy8[(n+smallSizeDiv-1)/smallSizeDiv]
	}
	return classBy128[(n-smallSizeMax+largeSizeDiv-1)/largeSizeDiv]
}
