package memguard

import (
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHeap is an injected reading and clock.
type fakeHeap struct {
	heap, limit atomic.Uint64
	now         atomic.Int64
	reads       atomic.Int64
}

func (f *fakeHeap) read() (uint64, uint64) {
	f.reads.Add(1)
	return f.heap.Load(), f.limit.Load()
}

func (f *fakeHeap) clock() time.Duration { return time.Duration(f.now.Load()) }

func (f *fakeHeap) advance(d time.Duration) { f.now.Add(int64(d)) }

func (f *fakeHeap) options() []HeapOption {
	return []HeapOption{withReader(f.read), withClock(f.clock)}
}

func newFake(heap, limit uint64) *fakeHeap {
	f := &fakeHeap{}
	f.heap.Store(heap)
	f.limit.Store(limit)
	return f
}

func TestNewHeapMonitorRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opt  HeapOption
		want error
	}{
		{"zero threshold", WithThreshold(0), ErrInvalidOption},
		{"negative threshold", WithThreshold(-0.5), ErrInvalidOption},
		{"threshold above 1", WithThreshold(1.01), ErrInvalidOption},
		{"NaN threshold", WithThreshold(math.NaN()), ErrInvalidOption},
		{"zero interval", withRefreshInterval(0), ErrInvalidOption},
		{"negative interval", withRefreshInterval(-time.Second), ErrInvalidOption},
		{"zero limit", WithLimit(0), ErrInvalidOption},
		{"negative limit", WithLimit(-1), ErrInvalidOption},
		{"nil option", nil, ErrInvalidOption},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewHeapMonitor(tc.opt)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, m)
		})
	}
}

func TestHeapMonitorDefaults(t *testing.T) {
	f := newFake(850, 1000)
	m, err := NewHeapMonitor(f.options()...)
	require.NoError(t, err)
	assert.Equal(t, DefaultThreshold, m.threshold)
	assert.InDelta(t, 0.85, m.Pressure(), 1e-12)
	assert.True(t, m.High(), "0.85 is at the default threshold")

	f.heap.Store(849)
	f.advance(defaultRefreshInterval - 1)
	assert.True(t, m.High(), "not yet refreshed just before the default interval")
	f.advance(1)
	assert.False(t, m.High(), "refreshed at the default interval")
}

func TestHeapMonitorThresholdAndLimit(t *testing.T) {
	f := newFake(600, math.MaxInt64) // runtime reports no limit
	opts := append(f.options(), WithThreshold(0.5), WithLimit(1000))
	m, err := NewHeapMonitor(opts...)
	require.NoError(t, err)
	assert.Equal(t, 0.5, m.threshold)
	assert.InDelta(t, 0.6, m.Pressure(), 1e-12, "WithLimit replaces the runtime's limit")
	assert.True(t, m.High())

	f.limit.Store(100) // the override wins over a runtime limit too
	f.advance(time.Hour)
	assert.InDelta(t, 0.6, m.Pressure(), 1e-12)
}

func TestHeapMonitorNoLimit(t *testing.T) {
	for _, limit := range []uint64{math.MaxInt64, 0} {
		f := newFake(1<<40, limit)
		m, err := NewHeapMonitor(append(f.options(), WithThreshold(0.01))...)
		require.NoError(t, err)
		assert.Zero(t, m.Pressure(), "limit %d", limit)
		assert.False(t, m.High())
	}
}

func TestHeapMonitorAboveLimit(t *testing.T) {
	f := newFake(3000, 2000)
	m, err := NewHeapMonitor(f.options()...)
	require.NoError(t, err)
	assert.InDelta(t, 1.5, m.Pressure(), 1e-12, "pressure is not clamped")
	assert.True(t, m.High())
}

func TestHeapMonitorRefreshesAtMostOncePerInterval(t *testing.T) {
	f := newFake(100, 1000)
	m, err := NewHeapMonitor(append(f.options(), withRefreshInterval(time.Second))...)
	require.NoError(t, err)
	require.Equal(t, int64(1), f.reads.Load(), "first reading at construction")

	f.heap.Store(900)
	for range 100 {
		assert.InDelta(t, 0.1, m.Pressure(), 1e-12)
	}
	assert.Equal(t, int64(1), f.reads.Load())

	f.advance(time.Second)
	assert.InDelta(t, 0.9, m.Pressure(), 1e-12)
	assert.InDelta(t, 0.9, m.Pressure(), 1e-12)
	assert.Equal(t, int64(2), f.reads.Load())

	// The next refresh is due one interval after the last one.
	f.advance(999 * time.Millisecond)
	m.Pressure()
	assert.Equal(t, int64(2), f.reads.Load())
	f.advance(time.Millisecond)
	m.Pressure()
	assert.Equal(t, int64(3), f.reads.Load())
}

func TestHeapMonitorConcurrent(t *testing.T) {
	f := newFake(500, 1000)
	m, err := NewHeapMonitor(append(f.options(), withRefreshInterval(time.Second))...)
	require.NoError(t, err)

	run := func() {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 500 {
					p := m.Pressure()
					if p != 0.5 && p != 0.7 {
						t.Errorf("unexpected pressure %v", p)
						return
					}
					_ = m.High()
				}
			})
		}
		wg.Wait()
	}
	run()
	assert.Equal(t, int64(1), f.reads.Load(), "nothing stale, nothing read")

	f.heap.Store(700)
	f.advance(time.Second)
	run()
	assert.Equal(t, int64(2), f.reads.Load(), "one stale interval, exactly one refresh")
	assert.InDelta(t, 0.7, m.Pressure(), 1e-12)
}

// TestHeapMonitorRuntime uses the real runtime/metrics reading.
func TestHeapMonitorRuntime(t *testing.T) {
	m, err := NewHeapMonitor(WithLimit(1 << 50))
	require.NoError(t, err)
	p := m.Pressure()
	assert.Greater(t, p, 0.0, "the test binary has a heap")
	assert.Less(t, p, 0.01)
	assert.False(t, m.High())

	m, err = NewHeapMonitor(WithLimit(1))
	require.NoError(t, err)
	assert.True(t, m.High(), "any heap is above a 1-byte limit")

	heap, limit := m.readRuntime()
	assert.Positive(t, heap)
	assert.Positive(t, limit)
}

// TestHeapMonitorRuntimeMemoryLimit follows the soft memory limit set with
// debug.SetMemoryLimit (what GOMEMLIMIT sets).
func TestHeapMonitorRuntimeMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)

	m, err := NewHeapMonitor(WithThreshold(1e-9))
	require.NoError(t, err)
	assert.Zero(t, m.Pressure(), "no limit set")
	assert.False(t, m.High())

	debug.SetMemoryLimit(1 << 40)
	m, err = NewHeapMonitor(WithThreshold(1e-9))
	require.NoError(t, err)
	assert.Greater(t, m.Pressure(), 0.0)
	assert.True(t, m.High())
}
