package memguard

import (
	"math"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Metrics read from runtime/metrics.
const (
	metricHeapObjects = "/memory/classes/heap/objects:bytes"
	metricMemLimit    = "/gc/gomemlimit:bytes"
)

// HeapMonitor tells how close the heap is to the program's memory limit, so
// that a processor can shed load (for example drop low-severity records)
// before the garbage collector starts thrashing or the process is killed.
//
// Pressure is the bytes of heap objects (live and not yet swept,
// "/memory/classes/heap/objects:bytes") divided by the limit: the value of
// WithLimit, or else the runtime's soft memory limit (GOMEMLIMIT,
// "/gc/gomemlimit:bytes"). Without either there is nothing to measure against:
// Pressure is then 0 and High is false.
//
// The reading is refreshed lazily by the callers themselves, at most once per
// 100 ms: there is no background goroutine and nothing to close. A call
// costs one monotonic clock read and an atomic load; the caller that finds
// the reading stale refreshes it, while concurrent callers keep using the
// previous value instead of waiting.
//
// HeapMonitor is safe for concurrent use.
type HeapMonitor struct {
	threshold float64
	interval  time.Duration
	limit     uint64 // from WithLimit; 0: the runtime's limit
	read      func() (heapBytes, limitBytes uint64)
	clock     func() time.Duration

	pressure   atomic.Uint64 // math.Float64bits of the last pressure
	next       atomic.Int64  // clock value at which the reading becomes stale
	refreshing atomic.Bool   // held by the one caller refreshing

	samples []metrics.Sample // used only while refreshing is held
}

// NewHeapMonitor returns a HeapMonitor configured by opts, having taken its
// first reading. It fails when an option is nil or has an invalid value,
// with an error wrapping ErrInvalidOption for each.
func NewHeapMonitor(opts ...HeapOption) (*HeapMonitor, error) {
	c, err := newHeapConfig(opts)
	if err != nil {
		return nil, err
	}
	m := &HeapMonitor{
		threshold: c.threshold.Resolve(DefaultThreshold),
		interval:  c.interval.Resolve(defaultRefreshInterval),
		limit:     uint64(c.limit.Resolve(0)),
		read:      c.read,
		clock:     c.clock,
	}
	if m.read == nil {
		m.samples = []metrics.Sample{{Name: metricHeapObjects}, {Name: metricMemLimit}}
		m.read = m.readRuntime
	}
	if m.clock == nil {
		start := time.Now()
		m.clock = func() time.Duration { return time.Since(start) }
	}
	m.refreshing.Store(true)
	m.refresh(m.clock())
	return m, nil
}

// Pressure returns the heap in use divided by the limit, as of the last
// refresh: the reading High compares with the threshold, for a program
// that reports it (a gauge, a health check). It may exceed 1 when the heap
// has grown past a soft limit. It is 0 when no limit is known.
func (m *HeapMonitor) Pressure() float64 {
	now := m.clock()
	if int64(now) >= m.next.Load() && m.refreshing.CompareAndSwap(false, true) {
		m.refresh(now)
	}
	return math.Float64frombits(m.pressure.Load())
}

// High reports whether Pressure is at or above the threshold.
func (m *HeapMonitor) High() bool {
	return m.Pressure() >= m.threshold
}

// refresh takes a new reading. The caller holds m.refreshing; refresh
// releases it.
func (m *HeapMonitor) refresh(now time.Duration) {
	defer m.refreshing.Store(false)
	// Another caller may have refreshed between our staleness check and our
	// taking the flag.
	if int64(now) < m.next.Load() {
		return
	}
	heap, limit := m.read()
	if limit >= noLimit {
		limit = 0 // the runtime's way of saying no limit is set
	}
	if m.limit > 0 {
		limit = m.limit // any value WithLimit accepted, math.MaxInt64 too
	}
	var p float64
	if limit > 0 {
		p = float64(heap) / float64(limit)
	}
	m.pressure.Store(math.Float64bits(p))
	// now + interval saturates: with an interval near math.MaxInt64 the sum
	// would wrap negative, and every call would find the reading stale and
	// read the runtime's metrics again.
	next := int64(now) + int64(m.interval)
	if next < int64(now) {
		next = math.MaxInt64
	}
	m.next.Store(next)
}

// readRuntime reads the heap and the soft memory limit from runtime/metrics.
// A metric this Go version does not support reads as 0 (no limit, no heap).
func (m *HeapMonitor) readRuntime() (heapBytes, limitBytes uint64) {
	metrics.Read(m.samples)
	return uint64Of(m.samples[0].Value), uint64Of(m.samples[1].Value)
}

func uint64Of(v metrics.Value) uint64 {
	if v.Kind() != metrics.KindUint64 {
		return 0
	}
	return v.Uint64()
}
