package exporter

import (
	"errors"
	"fmt"
)

// ErrPanic is the sentinel of every [*PanicError]: errors.Is(err, ErrPanic)
// reports whether an exporter call failed because the exporter panicked.
var ErrPanic = errors.New("steadylog/exporter: panic")

// ErrInvalidOption is wrapped by the error a constructor returns for each
// invalid option it was given.
var ErrInvalidOption = errors.New("steadylog/exporter: invalid option")

// ErrBusy is reported by a fan-out member that is still running an earlier
// Export (it hung past that call's deadline); the member is skipped for the
// new batch, because an Exporter's Export must never run concurrently with
// itself.
var ErrBusy = errors.New("steadylog/exporter: still busy with an earlier batch; batch skipped")

// PanicError is returned in place of a panic raised by a decorated
// exporter. The decorators recover panics so that one faulty exporter cannot
// crash the application's export goroutine or harm its siblings.
type PanicError struct {
	// Method is the exporter method that panicked: "Export", "ForceFlush"
	// or "Shutdown".
	Method string
	// Value is the value passed to panic.
	Value any
	// Stack is the panicking goroutine's stack trace.
	Stack []byte
}

// Error describes the panic; it does not include the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("steadylog/exporter: %s panicked: %v", e.Method, e.Value)
}

// Unwrap returns [ErrPanic], or the panic value when it is an error, so that
// both errors.Is(err, ErrPanic) and errors.Is(err, theValue) hold.
func (e *PanicError) Unwrap() []error {
	if err, ok := e.Value.(error); ok {
		return []error{ErrPanic, err}
	}
	return []error{ErrPanic}
}

// MemberError attributes an error to one member of a fan-out or failover
// ([NewFanout], [NewFailover]).
type MemberError struct {
	// Index is the member's position in the arguments, from 0.
	Index int
	// Name is the member's name: see [Named].
	Name string
	// Err is the member's error.
	Err error
}

// Error returns "exporter INDEX (NAME): ERR".
func (e *MemberError) Error() string {
	return fmt.Sprintf("exporter %d (%s): %v", e.Index, e.Name, e.Err)
}

// Unwrap returns the member's error.
func (e *MemberError) Unwrap() error { return e.Err }
