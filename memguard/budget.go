package memguard

import (
	"fmt"
	"sync/atomic"
)

// Budget is a byte budget that several processors can share, so that the
// records queued by all of them together stay under one memory limit.
//
// A caller reserves bytes with TryAcquire before it keeps something (for
// example RecordSize of a record it queues) and gives them back with Release
// once it no longer holds it (the record was exported or dropped). Budget
// never blocks: when the reservation does not fit, TryAcquire reports false
// and the caller decides what to drop.
//
// Used never exceeds Limit and never overflows, for any limit up to
// math.MaxInt64 and any n: a request that does not fit is refused, it never
// wraps around.
//
// Budget is lock-free and safe for concurrent use. Its zero value is a
// budget of 0 bytes, which grants nothing but requests of 0; create one
// with NewBudget.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a Budget of limit bytes, which may be any positive
// value up to math.MaxInt64. It returns an error wrapping ErrInvalidLimit if
// limit is not positive.
func NewBudget(limit int64) (*Budget, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: budget limit %d", ErrInvalidLimit, limit)
	}
	return &Budget{limit: limit}, nil
}

// TryAcquire reserves n bytes if they fit in what is left of the budget and
// reports whether it did. A request larger than the whole limit never
// succeeds. n == 0 always succeeds and reserves nothing; a negative n is
// refused (it would otherwise enlarge the budget).
func (b *Budget) TryAcquire(n int64) bool {
	if n < 0 {
		return false
	}
	for {
		used := b.used.Load()
		// used <= limit always holds, so limit-used cannot overflow.
		if n > b.limit-used {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release gives back n bytes acquired earlier. n <= 0 is ignored. Releasing
// more than is in use is a bug of the caller; Used is then clamped at 0
// rather than going negative, so that the budget can never grant more than
// its limit because of it.
func (b *Budget) Release(n int64) {
	if n <= 0 {
		return
	}
	for {
		used := b.used.Load()
		next := max(used-n, 0)
		if b.used.CompareAndSwap(used, next) {
			return
		}
	}
}

// Used returns the bytes currently reserved.
func (b *Budget) Used() int64 {
	return b.used.Load()
}

// Limit returns the size of the budget in bytes.
func (b *Budget) Limit() int64 {
	return b.limit
}
