package lifecycle

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// greedyComponent uses all the time its Shutdown is given, as a processor
// draining to a hung backend does, and returns when its context ends.
type greedyComponent struct{}

func (greedyComponent) ForceFlush(context.Context) error { return nil }
func (greedyComponent) Shutdown(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// timedComponent records how much time its Shutdown was given.
type timedComponent struct {
	mu   sync.Mutex
	left time.Duration
	ok   bool
}

func (*timedComponent) ForceFlush(context.Context) error { return nil }
func (c *timedComponent) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if dl, has := ctx.Deadline(); has && ctx.Err() == nil {
		c.left, c.ok = time.Until(dl), true
	}
	return nil
}

// TestLaterComponentsGetTheirShareOfShutdown: a first component that uses
// all the time it is given must not leave the next one (the MeterProvider
// with the final drop counters) with none.
func TestLaterComponentsGetTheirShareOfShutdown(t *testing.T) {
	for _, s := range []Strategy{Flush, Graceful} {
		t.Run(s.String(), func(t *testing.T) {
			metrics := &timedComponent{}
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			rep, err := ShutdownNamed(ctx, s, Named("logs", greedyComponent{}), Named("metrics", metrics))
			require.Error(t, err, "the greedy component ran out of its share")
			metrics.mu.Lock()
			defer metrics.mu.Unlock()
			require.True(t, metrics.ok, "metrics was shut down with time left")
			// Flush: the logs get half of ~600 ms, metrics the rest. Graceful
			// drains first (instantly here), then splits the same way.
			assert.Greater(t, metrics.left, 150*time.Millisecond)
			require.Len(t, rep.Components, 2)
			assert.NoError(t, rep.Components[1].Err)
		})
	}
}
