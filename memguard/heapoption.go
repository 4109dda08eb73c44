package memguard

import (
	"fmt"
	"math"
	"time"
)

// Defaults of a HeapMonitor.
const (
	// DefaultThreshold is the pressure at and above which High reports true.
	DefaultThreshold = 0.85
	// DefaultRefreshInterval is how old the pressure reading may get before
	// it is read again.
	DefaultRefreshInterval = 100 * time.Millisecond
)

// HeapOption configures a HeapMonitor.
type HeapOption interface {
	apply(*heapConfig)
}

type heapOptionFunc func(*heapConfig)

func (f heapOptionFunc) apply(c *heapConfig) { f(c) }

type heapConfig struct {
	threshold float64
	interval  time.Duration
	limit     int64
	limitSet  bool
	// read and clock are replaced by tests.
	read  func() (heapBytes, limitBytes uint64)
	clock func() time.Duration
}

func newHeapConfig(opts []HeapOption) (heapConfig, error) {
	c := heapConfig{
		threshold: DefaultThreshold,
		interval:  DefaultRefreshInterval,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	// The negated comparison also rejects NaN.
	if !(c.threshold > 0 && c.threshold <= 1) {
		return c, fmt.Errorf("%w: got %v", ErrInvalidThreshold, c.threshold)
	}
	if c.interval <= 0 {
		return c, fmt.Errorf("%w: got %v", ErrInvalidInterval, c.interval)
	}
	if c.limitSet && c.limit <= 0 {
		return c, fmt.Errorf("%w: heap limit %d", ErrInvalidLimit, c.limit)
	}
	return c, nil
}

// WithThreshold sets the pressure, in (0, 1], at and above which High
// reports true; 0 or less, above 1, or NaN makes NewHeapMonitor fail with
// ErrInvalidThreshold. Default: DefaultThreshold (0.85).
func WithThreshold(threshold float64) HeapOption {
	return heapOptionFunc(func(c *heapConfig) { c.threshold = threshold })
}

// WithRefreshInterval sets how long a pressure reading is reused before the
// runtime's metrics are read again; it must be positive (0 or less makes
// NewHeapMonitor fail with ErrInvalidInterval). Shorter reacts faster,
// longer costs less. There is no upper limit: math.MaxInt64 reads the
// metrics once, in NewHeapMonitor, in practice. Default:
// DefaultRefreshInterval (100 ms).
func WithRefreshInterval(d time.Duration) HeapOption {
	return heapOptionFunc(func(c *heapConfig) { c.interval = d })
}

// WithLimit sets the heap size, in bytes, that pressure is measured
// against, instead of the runtime's soft memory limit (GOMEMLIMIT or
// debug.SetMemoryLimit); it must be positive (0 or less makes
// NewHeapMonitor fail with ErrInvalidLimit), and any positive value up to
// math.MaxInt64 is used as given. Default: the runtime's limit, read at
// every refresh so that later changes are followed; the runtime reports
// math.MaxInt64 when no limit is set, which counts as no limit.
func WithLimit(bytes int64) HeapOption {
	return heapOptionFunc(func(c *heapConfig) {
		c.limit = bytes
		c.limitSet = true
	})
}

// withReader replaces the runtime/metrics reading; for tests.
func withReader(read func() (heapBytes, limitBytes uint64)) HeapOption {
	return heapOptionFunc(func(c *heapConfig) { c.read = read })
}

// withClock replaces the monotonic clock; for tests.
func withClock(clock func() time.Duration) HeapOption {
	return heapOptionFunc(func(c *heapConfig) { c.clock = clock })
}

// noLimit is what the runtime reports when no soft memory limit is set.
const noLimit = math.MaxInt64
