package lifecycle

import (
	"errors"
	"fmt"
)

// errStopBlockingHung is why a StopBlocking call was abandoned.
var errStopBlockingHung = errors.New("steadylog/lifecycle: StopBlocking did not return")

// blockerRef is a Blocker found in a component: the component itself (where
// is empty), a member of a Group ("group member 1", at any depth) or the
// counter given to Counted ("counter").
type blockerRef struct {
	where string
	b     Blocker
}

// collectBlockers appends to dst the Blockers that c stands for: c itself,
// or what a Group or Counted wraps. A Group's members are collected once:
// later collections (the Group's own Shutdown after a shutdown of this
// package) find nothing.
func collectBlockers(c Component, where string, dst []blockerRef) []blockerRef {
	if isNil(c) {
		return dst
	}
	switch v := c.(type) {
	case group:
		return v.claimBlockers(where, dst)
	case countedGroup:
		return v.claimBlockers(where, dst)
	case leftGroup:
		return v.claimBlockers(where, dst)
	case countedLeftGroup:
		return v.claimBlockers(where, dst)
	case countedLeft:
		return collectBlockers(v.counted, where, dst)
	case counted:
		dst = collectBlockers(v.Component, where, dst)
		where = joinWhere(where, "counter")
		if cc, ok := v.counter.(Component); ok { // Group(processors...) counts too
			return collectBlockers(cc, where, dst)
		}
		if b, ok := v.counter.(Blocker); ok && !isNil(v.counter) {
			dst = append(dst, blockerRef{where: where, b: b})
		}
		return dst
	}
	if b, ok := c.(Blocker); ok {
		dst = append(dst, blockerRef{where: where, b: b})
	}
	return dst
}

func joinWhere(where, more string) string {
	if where == "" {
		return more
	}
	return where + ": " + more
}

// blockResult is the outcome of one StopBlocking call.
type blockResult struct {
	idx       int // into the refs given to stopBlocking
	ref       blockerRef
	failure   error // nil, a panic (ErrPanicked), or errStopBlockingHung
	abandoned bool
}

// err is the failure as an error naming where the Blocker is, for a Group's
// Shutdown; nil when the call returned.
func (r blockResult) err() error {
	if r.failure == nil {
		return nil
	}
	err := r.failure
	if r.abandoned {
		err = fmt.Errorf("%w (no return within %v): %w", ErrAbandoned, AbandonMargin, err)
	}
	return fmt.Errorf("%s: %s: %w", r.ref.where, OpStopBlocking, err)
}

// stopBlocking calls StopBlocking on each of refs (once per Blocker: the same
// processor may be in two Groups, or be both a component and its counter),
// each in its own goroutine, and waits for them all for one shared
// AbandonMargin at most. It returns the failures: calls that panicked,
// ended in runtime.Goexit, or had not returned when the margin ran out
// (those keep running in the background).
func stopBlocking(refs []blockerRef) []blockResult {
	type running struct {
		idx  int
		ref  blockerRef
		done chan struct{}
		err  error
	}
	var calls []*running
	for i, ref := range refs {
		dup := false
		for _, c := range calls {
			if sameBlocker(c.ref.b, ref.b) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		c := &running{idx: i, ref: ref, done: make(chan struct{})}
		ended := callStarted()
		go func() {
			if ended != nil {
				defer ended() // last: once done is closed
			}
			returned := false
			defer close(c.done)
			defer func() {
				if p := recover(); p != nil {
					c.err = panicError(p)
				} else if !returned {
					c.err = errGoexit
				}
			}()
			ref.b.StopBlocking()
			returned = true
		}()
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		return nil
	}
	timer := clk.NewTimer(AbandonMargin)
	defer timer.Stop()
	expired := false
	var failed []blockResult
	for _, c := range calls {
		if !expired {
			select {
			case <-c.done:
			case <-timer.C():
				expired = true
			}
		}
		select {
		case <-c.done:
			if c.err != nil {
				failed = append(failed, blockResult{idx: c.idx, ref: c.ref, failure: c.err})
			}
		default:
			failed = append(failed, blockResult{idx: c.idx, ref: c.ref, failure: errStopBlockingHung, abandoned: true})
		}
	}
	return failed
}

// sameBlocker reports whether a and b are the same Blocker. Values of a
// type that is not comparable are never the same (== would panic).
func sameBlocker(a, b Blocker) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
