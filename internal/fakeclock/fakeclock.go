// Package fakeclock is the clock steadylog's packages read, and the fake one
// their tests drive: time moves only when a test says so, and a test can
// wait until a goroutine is blocked on a timer instead of sleeping.
package fakeclock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers. [Real] is the system clock;
// [Fake] is a clock a test moves.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of a *time.Timer the packages use.
type Timer interface {
	// C returns the channel the time is sent on when the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing, and reports whether it stopped
	// it (false if it had fired or been stopped already).
	Stop() bool
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Fake is a Clock that moves only when Advance or Set is called. Its timers
// fire, in order of their deadlines, when the clock reaches them. It is
// safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	changed *sync.Cond // broadcast when a timer is made, stopped or fired
	now     time.Time
	timers  []*fakeTimer // pending, in the order they were made
}

// New returns a Fake clock that tells start.
func New(start time.Time) *Fake {
	f := &Fake{now: start}
	f.changed = sync.NewCond(&f.mu)
	return f
}

// Now returns the clock's time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the time elapsed on the clock since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// Advance moves the clock forward by d and fires the timers whose deadline
// it reaches.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.setLocked(f.now.Add(d))
	f.mu.Unlock()
}

// Set moves the clock to t (which may be earlier than its time) and fires
// the timers whose deadline it reaches.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.setLocked(t)
	f.mu.Unlock()
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	kept := f.timers[:0]
	fired := false
	for _, tm := range f.timers {
		if tm.at.After(t) {
			kept = append(kept, tm)
			continue
		}
		tm.c <- t // buffered, and each timer fires once
		fired = true
	}
	clear(f.timers[len(kept):])
	f.timers = kept
	if fired {
		f.changed.Broadcast()
	}
}

// NewTimer returns a timer that fires when the clock reaches Now()+d; a
// timer with d <= 0 fires at once.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	tm := &fakeTimer{f: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		tm.c <- f.now
		return tm
	}
	f.timers = append(f.timers, tm)
	f.changed.Broadcast()
	return tm
}

// After returns the channel of a new timer of d, as time.After does.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// Timers returns the number of timers waiting to fire.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// BlockUntil waits until at least n timers are waiting to fire: the way a
// test knows that the goroutine it drives has reached its wait, without
// sleeping. It returns at once if they already are.
func (f *Fake) BlockUntil(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.timers) < n {
		f.changed.Wait()
	}
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	c  chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, tm := range t.f.timers {
		if tm == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			t.f.changed.Broadcast()
			return true
		}
	}
	return false
}
