package memguard

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewBudgetRejectsNonPositiveLimit(t *testing.T) {
	for _, limit := range []int64{0, -1, math.MinInt64} {
		b, err := NewBudget(limit)
		require.ErrorIs(t, err, ErrInvalidLimit, "limit %d", limit)
		assert.Nil(t, b)
	}
}

func TestBudgetAcquireRelease(t *testing.T) {
	b, err := NewBudget(100)
	require.NoError(t, err)
	assert.Equal(t, int64(100), b.Limit())
	assert.Zero(t, b.Used())

	assert.True(t, b.TryAcquire(60))
	assert.Equal(t, int64(60), b.Used())
	assert.False(t, b.TryAcquire(41), "does not fit in the 40 left")
	assert.Equal(t, int64(60), b.Used(), "a refused request reserves nothing")
	assert.True(t, b.TryAcquire(40), "fits exactly")
	assert.Equal(t, int64(100), b.Used())
	assert.False(t, b.TryAcquire(1))
	assert.True(t, b.TryAcquire(0), "zero always fits")

	b.Release(60)
	assert.Equal(t, int64(40), b.Used())
	b.Release(40)
	assert.Zero(t, b.Used())
}

func TestBudgetEdgeCases(t *testing.T) {
	b, err := NewBudget(10)
	require.NoError(t, err)

	assert.False(t, b.TryAcquire(11), "larger than the whole limit")
	assert.False(t, b.TryAcquire(-5), "negative requests would grow the budget")
	assert.False(t, b.TryAcquire(math.MaxInt64))
	assert.Zero(t, b.Used())

	require.True(t, b.TryAcquire(5))
	b.Release(0)
	b.Release(-3)
	assert.Equal(t, int64(5), b.Used(), "non-positive releases are ignored")
	b.Release(8)
	assert.Zero(t, b.Used(), "over-release clamps at zero")
	assert.True(t, b.TryAcquire(10))
	assert.False(t, b.TryAcquire(1), "clamping did not enlarge the budget")
}

func TestBudgetConcurrent(t *testing.T) {
	const (
		limit      = 10_000
		goroutines = 32
		rounds     = 2000
	)
	b, err := NewBudget(limit)
	require.NoError(t, err)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		exceeded int64
		granted  int
	)
	for g := range goroutines {
		wg.Go(func() {
			var ok int
			var worst int64
			for i := range rounds {
				n := int64(1 + (g*31+i*17)%700)
				if !b.TryAcquire(n) {
					continue
				}
				ok++
				if u := b.Used(); u > limit {
					worst = max(worst, u)
				}
				b.Release(n)
			}
			mu.Lock()
			exceeded = max(exceeded, worst)
			granted += ok
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Zero(t, exceeded, "Used exceeded Limit")
	assert.Zero(t, b.Used(), "every acquired byte was released")
	assert.Positive(t, granted)
	assert.Less(t, granted, goroutines*rounds+1)
}

// TestBudgetConcurrentFill checks that concurrent acquirers never over-commit:
// with no releases, exactly limit/n requests of n bytes succeed.
func TestBudgetConcurrentFill(t *testing.T) {
	b, err := NewBudget(1000)
	require.NoError(t, err)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int
	)
	for range 16 {
		wg.Go(func() {
			ok := 0
			for range 100 {
				if b.TryAcquire(7) {
					ok++
				}
			}
			mu.Lock()
			granted += ok
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, 1000/7, granted)
	assert.Equal(t, int64(1000/7*7), b.Used())
}
