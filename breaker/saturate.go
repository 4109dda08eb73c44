package breaker

import "time"

// Durations reach the breaker's arithmetic from the user — every Config
// duration may be as large as math.MaxInt64, a server's Retry-After is
// whatever the header said — and the Open wait is computed in float64 to
// apply BackoffMultiplier and Jitter. Go leaves the conversion of an
// out-of-range float64 to an integer implementation-defined (on amd64, any
// float64 >= 2^63 becomes math.MinInt64), and time.Time.Add saturates at the
// end of time with up to a second's error. These helpers keep both in range.

// durationUpTo converts f to a Duration clamped to [0, limit], for limit >=
// 0. NaN gives 0. The comparison is made in float64, before converting: a
// value below float64(limit) is below 2^63 and converts exactly enough, and
// the final min absorbs float64(limit) rounding limit up.
func durationUpTo(f float64, limit time.Duration) time.Duration {
	if !(f > 0) { // also NaN
		return 0
	}
	if f >= float64(limit) {
		return limit
	}
	return min(time.Duration(f), limit)
}

// later returns t+d for d >= 0, but never a time before t: at the end of
// time.Time's range Add saturates and may carry the nanoseconds backwards,
// and an Open breaker whose wait ends before it began would admit at once.
func later(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	if u := t.Add(d); u.After(t) {
		return u
	}
	return t
}
