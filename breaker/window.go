package breaker

import "time"

// tally is the content of a window, or of one of its buckets.
type tally struct {
	calls, failures, slow int
}

// window is the sliding window of recent outcomes. Only successes and
// failures enter it; ignored calls say nothing about the backend.
type window interface {
	record(now time.Time, failed, slow bool)
	total(now time.Time) tally
	reset()
}

// countWindow holds the outcomes of the last len(ring) calls.
type countWindow struct {
	ring []uint8 // bit 0: failed, bit 1: slow
	next int     // index the next outcome is written to
	n    int     // outcomes held, <= len(ring)
	sum  tally
}

const (
	bitFailed uint8 = 1 << iota
	bitSlow
)

// newCountWindow returns a window of the last size calls, 1 <= size <=
// MaxWindowSize (Config.Validate enforces it: size is the allocation).
func newCountWindow(size int) *countWindow { return &countWindow{ring: make([]uint8, size)} }

func (w *countWindow) record(_ time.Time, failed, slow bool) {
	if w.n == len(w.ring) { // evict the oldest outcome
		old := w.ring[w.next]
		w.sum.calls--
		if old&bitFailed != 0 {
			w.sum.failures--
		}
		if old&bitSlow != 0 {
			w.sum.slow--
		}
	} else {
		w.n++
	}
	var v uint8
	w.sum.calls++
	if failed {
		v |= bitFailed
		w.sum.failures++
	}
	if slow {
		v |= bitSlow
		w.sum.slow++
	}
	w.ring[w.next] = v
	w.next = (w.next + 1) % len(w.ring)
}

func (w *countWindow) total(time.Time) tally { return w.sum }

func (w *countWindow) reset() {
	w.next, w.n, w.sum = 0, 0, tally{}
}

// timeWindow holds the outcomes of the last span of time, in buckets of
// width span/len(buckets): an outcome leaves the window between span-width
// and span after it was recorded.
type timeWindow struct {
	width   int64 // bucket width in nanoseconds
	buckets [timeWindowBuckets]struct {
		epoch int64 // absolute bucket number: time / width
		tally
	}
}

// newTimeWindow returns a window of span > 0. Any span up to math.MaxInt64
// is fine: the width is at least 1 ns and at most math.MaxInt64/10.
func newTimeWindow(span time.Duration) *timeWindow {
	w := &timeWindow{width: max(int64(span)/timeWindowBuckets, 1)}
	w.reset()
	return w
}

// epoch returns the number of the bucket t falls in, rounding down: Go's
// division truncates toward zero, which would make the bucket around 1970
// twice as wide as the others.
func (w *timeWindow) epoch(t time.Time) int64 {
	ns := t.UnixNano()
	e := ns / w.width
	if ns%w.width < 0 {
		e-- // cannot overflow: a nonzero remainder means width >= 2
	}
	return e
}

// slot returns the bucket index of epoch e, modulo rounding down too:
// uint64(e)%n would give epochs -6 and 0 the same bucket, and a record at
// 0 would wipe the calls of -6, still inside the window.
func slot(e int64) int {
	i := int(e % timeWindowBuckets)
	if i < 0 {
		i += timeWindowBuckets
	}
	return i
}

// inWindow reports whether a bucket of epoch be lies in the window ending
// in epoch e. The difference is taken in uint64, so it cannot overflow
// however far apart the epochs are (e-timeWindowBuckets could, for a 1 ns
// width and a clock far from 1970), and a bucket from the future (a clock
// that went back) is out.
func inWindow(be, e int64) bool { return uint64(e)-uint64(be) < timeWindowBuckets }

func (w *timeWindow) record(now time.Time, failed, slow bool) {
	e := w.epoch(now)
	b := &w.buckets[slot(e)]
	if b.epoch != e {
		b.epoch, b.tally = e, tally{}
	}
	b.calls++
	if failed {
		b.failures++
	}
	if slow {
		b.slow++
	}
}

func (w *timeWindow) total(now time.Time) tally {
	e := w.epoch(now)
	var t tally
	for i := range w.buckets {
		b := &w.buckets[i]
		if inWindow(b.epoch, e) {
			t.calls += b.calls
			t.failures += b.failures
			t.slow += b.slow
		}
	}
	return t
}

// reset empties the window. The epoch of an empty bucket does not matter:
// its tally is zero wherever it falls.
func (w *timeWindow) reset() {
	for i := range w.buckets {
		w.buckets[i].epoch = -1 << 62
		w.buckets[i].tally = tally{}
	}
}
