package breaker

import "time"

// The black-box tests of package breaker_test share the fake clock of
// helpers_test.go.

// FakeClock is a Clock that moves only when told to.
type FakeClock = fakeClock

// NewFakeClock returns a FakeClock at a fixed date in 2026.
var NewFakeClock = newFakeClock

// NewFakeClockAt returns a FakeClock at t.
func NewFakeClockAt(t time.Time) *FakeClock { return &fakeClock{t: t} }
