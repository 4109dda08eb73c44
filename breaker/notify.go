package breaker

// transition is a state change waiting to be delivered to OnStateChange.
type transition struct{ from, to State }

// maxPendingTransitions bounds the queue of undelivered state changes. The
// queue grows while a callback runs, by every change other goroutines make
// meanwhile; a callback that blocks (a send on a channel nobody reads) would
// otherwise let a flapping breaker — one with a short OpenTimeout, say —
// grow it without limit. Past the bound, changes are merged (see enqueue):
// 1024 is far more than a callback that keeps up ever leaves behind.
const maxPendingTransitions = 1024

// enqueue queues the change from -> to for OnStateChange. It is called with
// b.mu held, in the order of the changes, so each queued change starts from
// the state the one before it ended in. A full queue merges the change into
// the last one (a -> b and b -> c make a -> c, and a change back to a drops
// out): the callback still sees a consistent chain of states ending in the
// current one, only with fewer steps; Breaker.Transitions counts them all.
func (b *Breaker) enqueue(from, to State) {
	if b.onStateChg == nil {
		return
	}
	n := len(b.pending)
	if n < maxPendingTransitions {
		b.pending = append(b.pending, transition{from, to})
		return
	}
	last := &b.pending[n-1]
	last.to = to
	if last.from == last.to {
		b.pending = b.pending[:n-1]
	}
}

// release ends a critical section: it unlocks b.mu, delivers pending state
// changes, and continues the first panic of user code run meanwhile (see
// unlockAndNotify), in the goroutine that called the breaker.
func (b *Breaker) release() {
	if p := b.unlockAndNotify(); p != nil {
		panic(p)
	}
}

// unlockAndNotify releases b.mu and delivers pending state changes. It
// returns the first panic of the user code run by this goroutine since it
// locked b.mu: a Clock or Rand panic recovered under the lock, else a panic
// of OnStateChange; nil if none.
//
// Callbacks run outside the lock, so they may call the breaker. To keep them
// in order and one at a time, one goroutine at a time delivers: a goroutine
// that finds another already delivering leaves its changes in the queue for
// that one (this also covers a callback that itself causes a change).
//
// A callback that panics does not stop the delivery: its panic is recovered,
// the remaining changes are delivered, and the panic is returned to be
// continued. Were it to unwind at once, the changes still in this
// goroutine's hands would be lost, and a panic at each change would hand
// the queue from goroutine to goroutine, a panic in each.
func (b *Breaker) unlockAndNotify() (panicked any) {
	panicked, b.userPanic = b.userPanic, nil
	if b.notifying || len(b.pending) == 0 {
		b.mu.Unlock()
		return panicked
	}
	b.notifying = true
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()

	finished := false
	defer func() {
		// Only runtime.Goexit in a callback (t.FailNow in a test) gets
		// here: hand the undelivered changes, in order, to the next
		// goroutine, or notifications would stop for good.
		if !finished {
			b.mu.Lock()
			b.pending = append(batch, b.pending...)
			b.notifying = false
			b.mu.Unlock()
		}
	}()
	for {
		for len(batch) > 0 {
			t := batch[0]
			batch = batch[1:]
			if p := b.deliver(t); panicked == nil {
				panicked = p
			}
		}
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.notifying = false
			b.mu.Unlock()
			finished = true
			return panicked
		}
		batch, b.pending = b.pending, nil
		b.mu.Unlock()
	}
}

// deliver calls OnStateChange for t and returns its panic, if any.
func (b *Breaker) deliver(t transition) (panicked any) {
	defer func() { panicked = recover() }()
	b.onStateChg(b.cfg.Name, t.from, t.to)
	return nil
}
