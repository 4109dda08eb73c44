package breaker

// numStates is the number of [State] values.
const numStates = int(Open) + 1

// Transitions counts a breaker's state changes by the states they went
// from and to, cumulatively since [New]. It is a snapshot for telemetry:
// each count maps onto a monotonic counter with "from" and "to" attributes.
type Transitions struct {
	n [numStates][numStates]uint64
}

// Count returns how many times the breaker went from from to to. It is 0
// for a pair that is not a transition the breaker makes, or for a State
// that does not exist.
func (t Transitions) Count(from, to State) uint64 {
	if !from.valid() || !to.valid() {
		return 0
	}
	return t.n[from][to]
}

// Total returns the number of state changes.
func (t Transitions) Total() uint64 {
	var sum uint64
	for from := range t.n {
		for to := range t.n[from] {
			sum += t.n[from][to]
		}
	}
	return sum
}

// each calls fn for every (from, to) pair with a non-zero count, in a
// stable order: by from, then by to, in the order Closed, HalfOpen, Open.
// Breaker.EachTransition is its public form.
func (t Transitions) each(fn func(from, to State, n uint64)) {
	for from := range t.n {
		for to := range t.n[from] {
			if n := t.n[from][to]; n > 0 {
				fn(State(from), State(to), n)
			}
		}
	}
}

func (t *Transitions) add(from, to State) {
	if from.valid() && to.valid() {
		t.n[from][to]++
	}
}

func (s State) valid() bool { return s >= Closed && s <= Open }

// Transitions returns a snapshot of the breaker's state changes so far. Like
// [Breaker.State], it first applies a change that is due (an Open breaker
// whose wait has ended is HalfOpen), so the two always agree.
func (b *Breaker) Transitions() Transitions {
	b.mu.Lock()
	b.advance(b.now())
	t := b.transitions
	b.release()
	return t
}

// StateName returns the name of the breaker's current state as
// [State.String] spells it: "closed", "half-open" or "open". With
// [Breaker.EachTransition] it is what metrics code reads of a breaker
// without importing this package (telemetry.ObserveBreaker).
func (b *Breaker) StateName() string { return b.State().String() }

// EachTransition calls fn for every pair of states the breaker has changed
// between, with the states' names ([State.String]) and the number of
// changes, from one snapshot of [Breaker.Transitions], in a stable order:
// by from, then by to, in the order closed, half-open, open. fn is called after the breaker's lock is released.
func (b *Breaker) EachTransition(fn func(from, to string, n uint64)) {
	b.Transitions().each(func(from, to State, n uint64) { fn(from.String(), to.String(), n) })
}
