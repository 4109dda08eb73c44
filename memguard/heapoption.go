package memguard

import (
	"math"
	"time"

	"github.com/steadylog/steadylog/internal/setting"
)

// DefaultThreshold is the pressure at and above which a HeapMonitor's High
// reports true, unless WithThreshold sets another.
const DefaultThreshold = 0.85

// defaultRefreshInterval is how old the pressure reading may get before it
// is read again: long enough that reading runtime/metrics costs nothing
// measurable, short enough for a burst to be shed before it grows the
// heap much further.
const defaultRefreshInterval = 100 * time.Millisecond

// HeapOption configures a HeapMonitor.
type HeapOption interface {
	apply(*heapConfig)
}

type heapOptionFunc func(*heapConfig)

func (f heapOptionFunc) apply(c *heapConfig) { f(c) }

type heapConfig struct {
	errs      *setting.Errors
	threshold setting.Value[float64]
	interval  setting.Value[time.Duration]
	limit     setting.Value[int64]
	// read and clock are set only by tests.
	read  func() (heapBytes, limitBytes uint64)
	clock func() time.Duration
}

func newHeapConfig(opts []HeapOption) (heapConfig, error) {
	c := heapConfig{errs: setting.NewErrors(ErrInvalidOption)}
	setting.Apply(c.errs, opts, func(o HeapOption) { o.apply(&c) })
	return c, c.errs.Err()
}

// WithThreshold sets the pressure at and above which High reports true: a
// processor given the monitor (processor.WithHeapMonitor) sheds optional
// records from then on. It must be in (0, 1]; 0 or less, above 1, or NaN
// makes NewHeapMonitor fail.
//
// Default: DefaultThreshold (0.85).
func WithThreshold(threshold float64) HeapOption {
	return heapOptionFunc(func(c *heapConfig) {
		if setting.Positive(c.errs, "WithThreshold", threshold) &&
			setting.Between(c.errs, "WithThreshold", threshold, 0, 1) {
			c.threshold = setting.Of(threshold)
		}
	})
}

// withRefreshInterval sets how long a pressure reading is reused before
// the runtime's metrics are read again; it must be positive. There is no
// upper limit: math.MaxInt64 reads the metrics once, in NewHeapMonitor, in
// practice. For tests, which need a reading that stays put or one that is
// refreshed at a known time.
func withRefreshInterval(d time.Duration) HeapOption {
	return heapOptionFunc(func(c *heapConfig) {
		if setting.Positive(c.errs, "withRefreshInterval", d) {
			c.interval = setting.Of(d)
		}
	})
}

// WithLimit sets the heap size, in bytes, that pressure is measured
// against, instead of the runtime's soft memory limit (GOMEMLIMIT or
// debug.SetMemoryLimit). It must be positive (0 or less makes
// NewHeapMonitor fail), and any positive value up to math.MaxInt64 is used
// as given.
//
// Default: the runtime's limit, read at every refresh so that later
// changes are followed; the runtime reports math.MaxInt64 when no limit is
// set, which counts as no limit.
func WithLimit(bytes int64) HeapOption {
	return heapOptionFunc(func(c *heapConfig) {
		if setting.Positive(c.errs, "WithLimit", bytes) {
			c.limit = setting.Of(bytes)
		}
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
