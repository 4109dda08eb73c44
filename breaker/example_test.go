package breaker_test

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/retry"
)

// manualClock is a breaker.Clock that moves only when told to, so the
// examples are deterministic.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func Example() {
	clock := &manualClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := breaker.MustNew(breaker.Config{
		Name:                "collector",
		ConsecutiveFailures: 3,
		OpenTimeout:         5 * time.Second,
		Clock:               clock,
		Rand:                func() float64 { return 0 }, // no jitter, for a stable output
		OnStateChange: func(name string, from, to breaker.State) {
			fmt.Printf("%s: %s -> %s\n", name, from, to)
		},
	})

	errDown := errors.New("connection refused")
	for range 3 {
		_ = b.Execute(func() error { return errDown })
	}

	err := b.Execute(func() error { return nil })
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		fmt.Println("refused; retry in", oe.RetryAt.Sub(clock.Now()))
	}

	clock.Advance(5 * time.Second)
	fmt.Println("probe:", b.Execute(func() error { return nil }))
	fmt.Println("state:", b.State())
	// Output:
	// collector: closed -> open
	// refused; retry in 5s
	// collector: open -> half-open
	// collector: half-open -> closed
	// probe: <nil>
	// state: closed
}

// Allow and done split a call in two, for callers that cannot wrap the call
// in a function.
func ExampleBreaker_Allow() {
	b := breaker.MustNew(breaker.Config{})
	done, err := b.Allow()
	if err != nil {
		fmt.Println("not now:", err)
		return
	}
	// ... make the call ...
	done(nil)
	c := b.Counts()
	fmt.Println(c.Requests, c.Successes, c.InFlight())
	// Output: 1 1 0
}

func ExampleConfig_Validate() {
	err := breaker.Config{FailureRateThreshold: 50}.Validate()
	fmt.Println(err)
	// Output: steadylog/breaker: invalid Config: FailureRateThreshold(50): must be within [0, 1]
}

// A failure carrying the server's requested delay keeps the breaker open at
// least that long.
func Example_retryAfter() {
	clock := &manualClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, Clock: clock, Rand: func() float64 { return 0 }})
	_ = b.Execute(func() error {
		return retry.After(errors.New("429 Too Many Requests"), 30*time.Second)
	})
	fmt.Println(b.State(), b.RetryAt().Sub(clock.Now()))
	// Output: open 30s
}

// Errors the backend is not to blame for do not count against it.
func Example_permanent() {
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1})
	_ = b.Execute(func() error { return retry.Permanent(errors.New("400 Bad Request")) })
	fmt.Println(b.State(), b.Counts().Ignored)
	// Output: closed 1
}
