package clock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Fake is a Clock that moves only when Advance or Set is called. Its
// timers, tickers and deadlines fire, in the order they were made, when
// the clock reaches them. It is safe for concurrent use.
type Fake struct {
	mu         sync.Mutex
	changed    *sync.Cond // broadcast when a waiter is added, removed or fired, or a tick received
	now        time.Time
	waiters    []waiter // pending, in the order they were made
	delivering int      // tickers with a tick not yet received (see fakeTicker)
	tickers    int      // tickers made, stopped ones included
}

// waiter is a pending timer, ticker or deadline. fire is called, with
// f.mu held, when the clock reaches at; it reports whether the waiter
// stays pending (a ticker, with its next tick at a later at).
type waiter interface {
	due() time.Time
	fire(now time.Time) (again bool)
}

// NewFake returns a Fake clock that tells start.
func NewFake(start time.Time) *Fake {
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

// Advance moves the clock forward by d and fires what it reaches.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.setLocked(f.now.Add(d))
	f.mu.Unlock()
}

// AdvanceAndWait is Advance, then waits until every tick it fired (and
// every tick fired before it) has been received or its ticker stopped:
// once it returns, the goroutine that reads a ticker has taken the tick,
// and once the next AdvanceAndWait returns, it has finished handling it
// and come back for the next one.
func (f *Fake) AdvanceAndWait(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
	for f.delivering > 0 {
		f.changed.Wait()
	}
}

// TickAndWait sends every ticker not stopped one more tick, at the
// clock's time, without moving the clock or the tickers' next ticks, and
// waits as AdvanceAndWait does. Once it returns, the goroutine that reads
// a ticker has finished handling the ticks before this one: it is how a
// test knows that a tick was handled before it changes what the next one
// sees. A *time.Ticker delivers a late tick the same way, at a time its
// reader may have seen already.
func (f *Fake) TickAndWait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.waiters {
		if tk, ok := w.(*fakeTicker); ok {
			tk.send(f.now)
		}
	}
	for f.delivering > 0 {
		f.changed.Wait()
	}
}

// Set moves the clock to t (which may be earlier than its time) and fires
// what it reaches.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.setLocked(t)
	f.mu.Unlock()
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	kept := f.waiters[:0]
	fired := false
	for _, w := range f.waiters {
		if w.due().After(t) {
			kept = append(kept, w)
			continue
		}
		fired = true
		if w.fire(t) {
			kept = append(kept, w)
		}
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
	if fired {
		f.changed.Broadcast()
	}
}

func (f *Fake) addLocked(w waiter) {
	f.waiters = append(f.waiters, w)
	f.changed.Broadcast()
}

// removeLocked removes w and reports whether it was pending.
func (f *Fake) removeLocked(w waiter) bool {
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			f.changed.Broadcast()
			return true
		}
	}
	return false
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
	f.addLocked(tm)
	return tm
}

// After returns the channel of a new timer of d, as time.After does.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTicker returns a ticker that ticks each time the clock reaches the
// next multiple of d after Now(). Like a *time.Ticker it does not pile
// ticks up: an Advance over several periods delivers one, and while a
// tick is not received the ticker holds at most one more (the latest).
// Unlike a *time.Ticker's, its channel is unbuffered, so that
// AdvanceAndWait can tell when a tick has been received. It panics if
// d <= 0, as time.NewTicker does.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tk := &fakeTicker{f: f, period: d, at: f.now.Add(d), c: make(chan time.Time), stop: make(chan struct{})}
	f.tickers++
	f.addLocked(tk)
	return tk
}

// TickersMade returns the number of tickers made on the clock, stopped
// ones included: the way a test counts the runs of a goroutine that makes
// a ticker each time it starts.
func (f *Fake) TickersMade() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tickers
}

// Periods returns the periods of the tickers not stopped, in the order
// they were made.
func (f *Fake) Periods() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ds []time.Duration
	for _, w := range f.waiters {
		if tk, ok := w.(*fakeTicker); ok {
			ds = append(ds, tk.period)
		}
	}
	return ds
}

// WithDeadlineCause returns a context that ends, with
// context.DeadlineExceeded and cause (context.DeadlineExceeded if nil),
// when the clock reaches d (at once if it has), when parent ends, or when
// cancel is called.
func (f *Fake) WithDeadlineCause(parent context.Context, d time.Time, cause error) (context.Context, context.CancelFunc) {
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	inner, cancel := context.WithCancelCause(parent)
	c := &deadlineCtx{Context: inner, f: f, at: d, cause: cause, cancel: cancel}
	f.mu.Lock()
	if d.After(f.now) {
		f.addLocked(c)
	} else {
		c.fire(f.now)
	}
	f.mu.Unlock()
	return c, func() {
		f.mu.Lock()
		f.removeLocked(c)
		f.mu.Unlock()
		cancel(context.Canceled)
	}
}

// Waiters returns the number of timers, tickers and deadlines waiting to
// fire.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntilAtMost waits until at most n timers, tickers and deadlines
// are waiting to fire: the way a test knows that a goroutine has stopped
// its ticker, say.
func (f *Fake) BlockUntilAtMost(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) > n {
		f.changed.Wait()
	}
}

// BlockUntil waits until at least n timers, tickers and deadlines are
// waiting to fire: the way a test knows that the goroutine it drives has
// reached its wait, without sleeping. It returns at once if they already
// are.
func (f *Fake) BlockUntil(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) < n {
		f.changed.Wait()
	}
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	c  chan time.Time
}

func (t *fakeTimer) due() time.Time { return t.at }

func (t *fakeTimer) fire(now time.Time) bool {
	t.c <- now // buffered, and a timer fires once
	return false
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.f.removeLocked(t)
}

// fakeTicker delivers its ticks on an unbuffered channel from a goroutine
// of its own, which runs while a tick is not received: the goroutine
// knows when the tick is taken, and tells the Fake (delivering), which is
// what AdvanceAndWait waits for. The goroutine ends when the ticks it has
// are received or the ticker is stopped.
type fakeTicker struct {
	f      *Fake
	period time.Duration
	at     time.Time // the next tick
	c      chan time.Time
	stop   chan struct{} // closed by Stop

	// Guarded by f.mu.
	sending bool      // the goroutine runs
	queued  time.Time // a tick fired while the goroutine sends another; zero if none
	stopped bool
}

func (t *fakeTicker) due() time.Time { return t.at }

func (t *fakeTicker) fire(now time.Time) bool {
	t.send(now)
	for !t.at.After(now) {
		t.at = t.at.Add(t.period)
	}
	return true
}

// send delivers a tick at now, or queues it behind the one being
// received.
func (t *fakeTicker) send(now time.Time) {
	if t.sending {
		t.queued = now // the latest tick waits for the one being received
	} else {
		t.sending = true
		t.f.delivering++
		go t.deliver(now)
	}
}

func (t *fakeTicker) deliver(tick time.Time) {
	for {
		select {
		case t.c <- tick:
		case <-t.stop:
		}
		t.f.mu.Lock()
		tick, t.queued = t.queued, time.Time{}
		if tick.IsZero() || t.stopped {
			t.sending = false
			t.f.delivering--
			t.f.changed.Broadcast()
			t.f.mu.Unlock()
			return
		}
		t.f.mu.Unlock()
	}
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		close(t.stop)
	}
	t.f.removeLocked(t)
}

// deadlineCtx is a context that ends when its Fake reaches at.
type deadlineCtx struct {
	context.Context // a cancel context of the parent
	f               *Fake
	at              time.Time
	cause           error
	cancel          context.CancelCauseFunc
	reached         atomic.Bool // the clock reached at before anything else ended the context
}

func (c *deadlineCtx) due() time.Time { return c.at }

func (c *deadlineCtx) fire(time.Time) bool {
	if c.Context.Err() == nil {
		c.reached.Store(true)
	}
	c.cancel(c.cause)
	return false
}

// Deadline returns the earlier of the clock's deadline and the parent's.
func (c *deadlineCtx) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.at) {
		return d, true
	}
	return c.at, true
}

// Err is context.DeadlineExceeded once the deadline is reached, as for a
// context of context.WithDeadline, not the context.Canceled of the cancel
// context it wraps.
func (c *deadlineCtx) Err() error {
	err := c.Context.Err()
	if err != nil && c.reached.Load() {
		return context.DeadlineExceeded
	}
	return err
}
