package breaker

// Counts is a snapshot of a breaker's counters, for telemetry. The totals
// are cumulative since [New] and never decrease, so they map directly onto
// monotonic counters; the consecutive runs describe the current state.
type Counts struct {
	// Requests is the number of calls admitted.
	Requests uint64
	// Successes, Failures and Ignored count finished calls by [Outcome].
	// Ignored also counts a call admitted by an Allow that then panicked
	// (see [Breaker.Allow]): its caller never got a done function.
	Successes, Failures, Ignored uint64
	// SlowCalls counts finished successes and failures that took longer
	// than [Config.SlowCallDuration].
	SlowCalls uint64
	// Rejected is the number of calls refused with an [*OpenError].
	Rejected uint64
	// Trips is the number of times the breaker opened (including reopening
	// after a failed probe).
	Trips uint64
	// ConsecutiveFailures and ConsecutiveSuccesses are the current runs of
	// failures and successes in the current state; ignored calls do not
	// break a run, and every state change resets both.
	ConsecutiveFailures, ConsecutiveSuccesses uint64
}

// InFlight returns the number of admitted calls that have not finished.
func (c Counts) InFlight() uint64 {
	return c.Requests - c.Successes - c.Failures - c.Ignored
}
