package lifecycle

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
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
		c.left, c.ok = clock.Until(clk, dl), true
	}
	return nil
}

// TestLaterComponentsGetTheirShareOfShutdown: a first component that uses
// all the time it is given must not leave the next one (the MeterProvider
// with the final drop counters) with none.
func TestLaterComponentsGetTheirShareOfShutdown(t *testing.T) {
	for _, s := range []Strategy{Flush, Graceful} {
		t.Run(s.String(), func(t *testing.T) {
			const deadline = 600 * time.Millisecond
			fake := UseFakeClock(t)
			metrics := &timedComponent{}
			ctx, cancel := clock.WithTimeout(fake, context.Background(), deadline)
			defer cancel()
			type outcome struct {
				rep Report
				err error
			}
			res := make(chan outcome, 1)
			go func() {
				rep, err := ShutdownNamed(ctx, s, Named("logs", greedyComponent{}), Named("metrics", metrics))
				res <- outcome{rep, err}
			}()
			// Flush: the logs get half of the 600 ms, metrics the rest.
			// Graceful drains first (instantly here), then splits the same
			// way.
			waiting := 2 // the deadline and the logs' share
			if s == Graceful {
				waiting++ // the drain's budget
			}
			fake.BlockUntil(waiting)
			fake.Advance(deadline / 2)
			var o outcome
			select {
			case o = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("the shutdown did not return")
			}
			rep, err := o.rep, o.err
			require.Error(t, err, "the greedy component ran out of its share")
			metrics.mu.Lock()
			defer metrics.mu.Unlock()
			require.True(t, metrics.ok, "metrics was shut down with time left")
			assert.Equal(t, deadline/2, metrics.left)
			assert.Equal(t, deadline/2, rep.Duration)
			require.Len(t, rep.Components, 2)
			assert.NoError(t, rep.Components[1].Err)
		})
	}
}
