package lifecycle

import (
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHardeningManagerConcurrentStop: Stop waits for the listening goroutine
// to end also when another Stop is under way (it used to return at once,
// while the goroutine could still handle a signal). White-box: the goroutine
// closes m.exited as it ends.
func TestHardeningManagerConcurrentStop(t *testing.T) {
	m, err := NewManager(WithSignals(syscall.SIGUSR1))
	require.NoError(t, err)
	for i := range 200 {
		require.NoError(t, m.Listen())
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		var wg sync.WaitGroup
		early := make(chan struct{}, 2)
		for range 2 {
			wg.Go(func() {
				m.Stop()
				select {
				case <-exited:
				default:
					early <- struct{}{}
				}
			})
		}
		wg.Wait()
		require.Empty(t, early, "iteration %d: Stop returned while the listening goroutine ran", i)
	}
	m.Stop() // not listening: returns at once
}
