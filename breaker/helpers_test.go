package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
)

// newFakeClock returns a clock that moves only when told to.
func newFakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

var errBackend = errors.New("backend down")

// noJitter makes every Open wait exactly the backed-off wait.
func noJitter() float64 { return 0 }

// call makes one admitted call that takes d on the clock and returns err.
func call(t *testing.T, b *Breaker, c *clock.Fake, d time.Duration, err error) {
	t.Helper()
	done, aerr := b.Allow()
	require.NoError(t, aerr, "call refused")
	c.Advance(d)
	done(err)
}

// failN makes n admitted calls that fail with errBackend.
func failN(t *testing.T, b *Breaker, n int) {
	t.Helper()
	for range n {
		require.ErrorIs(t, b.Execute(func() error { return errBackend }), errBackend)
	}
}

// succeedN makes n admitted calls that succeed.
func succeedN(t *testing.T, b *Breaker, n int) {
	t.Helper()
	for range n {
		require.NoError(t, b.Execute(func() error { return nil }))
	}
}

// transitions records OnStateChange calls.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (r *transitions) record(name string, from, to State) {
	r.mu.Lock()
	r.got = append(r.got, name+":"+from.String()+"->"+to.String())
	r.mu.Unlock()
}

func (r *transitions) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}
