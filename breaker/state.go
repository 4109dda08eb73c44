package breaker

import "strconv"

// State is the state of a [Breaker].
type State int

// The states of a [Breaker]. The zero value is Closed, the state a new
// breaker starts in.
const (
	// Closed admits every call and watches the outcomes.
	Closed State = iota
	// HalfOpen admits a limited number of probe calls to test whether the
	// backend has recovered.
	HalfOpen
	// Open refuses every call until its wait ends.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// WindowKind selects how the sliding window of recent calls is measured.
type WindowKind int

const (
	// CountWindow keeps the outcomes of the last [Config.WindowSize] calls.
	// It is the default.
	CountWindow WindowKind = iota
	// TimeWindow keeps the outcomes of the calls that completed within the
	// last [Config.WindowDuration].
	TimeWindow
)

// String returns "count" or "time".
func (k WindowKind) String() string {
	switch k {
	case CountWindow:
		return "count"
	case TimeWindow:
		return "time"
	}
	return "WindowKind(" + strconv.Itoa(int(k)) + ")"
}

// Outcome is what a call's result means for the health of the backend; the
// [Config.Classify] function maps a call's error to an Outcome.
type Outcome int

const (
	// OutcomeSuccess means the backend handled the call.
	OutcomeSuccess Outcome = iota
	// OutcomeFailure counts against the backend.
	OutcomeFailure
	// OutcomeIgnored says nothing about the backend (the caller gave up, or
	// the data was bad): the call is neither a success nor a failure.
	OutcomeIgnored
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeFailure:
		return "failure"
	case OutcomeIgnored:
		return "ignored"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}
