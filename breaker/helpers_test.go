package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var errBackend = errors.New("backend down")

// noJitter makes every Open wait exactly the backed-off wait.
func noJitter() float64 { return 0 }

// call makes one admitted call that takes d on the clock and returns err.
func call(t *testing.T, b *Breaker, c *fakeClock, d time.Duration, err error) {
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
