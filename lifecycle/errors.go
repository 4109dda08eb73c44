package lifecycle

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Test for them with [errors.Is]; the errors returned by this
// package wrap them with details.
var (
	// ErrNilComponent: a nil Component (or a typed nil pointer) was passed.
	// Shutdown still shuts down the other components.
	ErrNilComponent = errors.New("steadylog/lifecycle: nil component")
	// ErrNilContext: a nil context was passed. A nil context is refused rather
	// than treated as context.Background, because Background has no deadline
	// and would let a hung exporter block shutdown for ever.
	ErrNilContext = errors.New("steadylog/lifecycle: nil context")
	// ErrInvalidStrategy: the zero Strategy, a Graceful share outside (0, 1],
	// or text that does not name a strategy.
	ErrInvalidStrategy = errors.New("steadylog/lifecycle: invalid strategy")
	// ErrAbandoned: a component or hook call was still running
	// [AbandonMargin] after its context ended (or a RecordCounts or
	// StopBlocking call AbandonMargin after it began), so Shutdown stopped
	// waiting for it. The call keeps running in its goroutine; whatever it
	// held is lost.
	ErrAbandoned = errors.New("steadylog/lifecycle: abandoned")
	// ErrForced is the context cause seen by components when a second signal
	// forced a Manager's shutdown to switch to Immediate.
	ErrForced = errors.New("steadylog/lifecycle: forced immediate shutdown")
	// ErrImmediate is the context cause seen by components shut down by the
	// Immediate strategy.
	ErrImmediate = errors.New("steadylog/lifecycle: immediate shutdown")
	// ErrPanicked: a component, hook, RecordCounts or StopBlocking call
	// panicked (or ended in runtime.Goexit instead of returning); the panic
	// was recovered so that the remaining components still shut down. When
	// the panic value is an error, it is wrapped too.
	ErrPanicked = errors.New("steadylog/lifecycle: panicked")
	// ErrNilHook: a nil cleanup hook function was registered.
	ErrNilHook = errors.New("steadylog/lifecycle: nil hook")
	// ErrEmptyName: a component or hook was registered without a name.
	ErrEmptyName = errors.New("steadylog/lifecycle: empty name")
	// ErrDuplicateName: a name was registered twice; names identify entries
	// in the Report and errors, so they must be unique.
	ErrDuplicateName = errors.New("steadylog/lifecycle: duplicate name")
	// ErrShutdownStarted: a registration or Listen came after the Manager's
	// shutdown had begun, too late to take part.
	ErrShutdownStarted = errors.New("steadylog/lifecycle: shutdown already started")
	// ErrAlreadyListening: Listen was called while the Manager was listening.
	ErrAlreadyListening = errors.New("steadylog/lifecycle: already listening")
	// ErrInvalidOption: an option of NewManager was nil or given an
	// invalid value.
	ErrInvalidOption = errors.New("steadylog/lifecycle: invalid option")
)

// errBudget is the cause of the Graceful drain context ending: the drain
// budget is used up, which is the strategy working as designed, not a failure.
var errBudget = errors.New("steadylog/lifecycle: graceful drain budget used up")

// errShare is the cause when a Shutdown call used up its share of the time
// left (see execution.shareContext).
var errShare = errors.New("steadylog/lifecycle: this component's share of the shutdown time used up")

// Op names the call a [ComponentError] is about.
type Op uint8

const (
	// OpShutdown is a component's Shutdown call.
	OpShutdown Op = iota
	// OpForceFlush is a component's ForceFlush call.
	OpForceFlush
	// OpHook is a cleanup hook registered with [Manager.AddHook].
	OpHook
	// OpRecordCounts is a [RecordCounter]'s RecordCounts call, made before
	// a component's first call and after its Shutdown, with, after it, a
	// [LeftCounter]'s RecordsLeft call.
	OpRecordCounts
	// OpStopBlocking is a [Blocker]'s StopBlocking call, made after the
	// flush phase and before the first Shutdown.
	OpStopBlocking
)

// String returns "shutdown", "force_flush", "hook", "record_counts" or
// "stop_blocking".
func (o Op) String() string {
	switch o {
	case OpShutdown:
		return "shutdown"
	case OpForceFlush:
		return "force_flush"
	case OpHook:
		return "hook"
	case OpRecordCounts:
		return "record_counts"
	case OpStopBlocking:
		return "stop_blocking"
	default:
		return fmt.Sprintf("Op(%d)", uint8(o))
	}
}

// ComponentError says why one component (or hook) failed.
//
// It unwraps to Err and, when Abandoned, also to [ErrAbandoned], so both
// errors.Is(err, ErrAbandoned) and errors.Is(err, context.DeadlineExceeded)
// hold for a component that ignored its deadline.
type ComponentError struct {
	Name      string // the component's name (see [Named]) or the hook's name
	Op        Op     // the call that failed
	Err       error  // what the call returned, or why it was abandoned
	Abandoned bool   // the call did not return in time and is still running
}

// Error implements error.
func (e *ComponentError) Error() string {
	if e.Abandoned {
		if e.Op == OpRecordCounts || e.Op == OpStopBlocking { // no context: a margin from the start
			return fmt.Sprintf("%s %s: abandoned (no return within %v): %v", e.Name, e.Op, AbandonMargin, e.Err)
		}
		return fmt.Sprintf("%s %s: abandoned (no return %v after its context ended): %v", e.Name, e.Op, AbandonMargin, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Name, e.Op, e.Err)
}

// Unwrap returns Err and, for an abandoned call, [ErrAbandoned].
func (e *ComponentError) Unwrap() []error {
	if e.Abandoned {
		return []error{ErrAbandoned, e.Err}
	}
	return []error{e.Err}
}

// Error is returned by [Shutdown] and [Manager.Shutdown] when at least one
// component or hook failed or was abandoned. It lists every failure in the
// order the calls were made; errors.Is and errors.As see through it to each
// [ComponentError].
type Error struct {
	Failures []*ComponentError
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("steadylog/lifecycle: ")
	if len(e.Failures) == 1 {
		b.WriteString("1 failure: ")
	} else {
		fmt.Fprintf(&b, "%d failures: ", len(e.Failures))
	}
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap returns each failure, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f
	}
	return errs
}
