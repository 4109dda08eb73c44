// Package setting is the one mechanism steadylog's packages use for their
// options, as go.opentelemetry.io/otel/sdk/log's setting[T] is for the SDK:
// a value an option may set, resolved option → environment variable →
// default; the invalid values options were given, collected for the
// constructor to return as one error; and the checks every package makes.
//
// The convention it serves, in every package:
//   - an option is a value of the package's Option interface (unexported
//     method), made by a With… function, and never panics: an invalid value
//     is rejected into an Errors, and the constructor returns
//     errors.Join of them, each wrapping the package's ErrInvalidOption;
//   - a nil option is an invalid option (Apply);
//   - "was it set" is a Value, not a flag beside the field;
//   - only constructors named Must… panic.
package setting

import (
	"errors"
	"fmt"

	"github.com/steadylog/steadylog/internal/nilness"
)

// Value is a setting an option may set. The zero Value is unset.
type Value[T any] struct {
	v   T
	set bool
}

// Of returns a Value set to v.
func Of[T any](v T) Value[T] { return Value[T]{v: v, set: true} }

// IsSet reports whether an option set the value.
func (s Value[T]) IsSet() bool { return s.set }

// Get returns the value and whether it was set.
func (s Value[T]) Get() (T, bool) { return s.v, s.set }

// Resolve returns the value an option set; else the value of the first
// fallback that has one (an environment variable, typically: see Env);
// else def.
func (s Value[T]) Resolve(def T, fallbacks ...func() (T, bool)) T {
	if s.set {
		return s.v
	}
	for _, f := range fallbacks {
		if v, ok := f(); ok {
			return v
		}
	}
	return def
}

// Env returns a fallback for Resolve that reads key with lookup (os.LookupEnv
// in production) and parses it. A variable that is unset or empty gives no
// value; one that does not parse is reported to warn (a bad environment is
// not a constructor error: the program was not written wrong, and the
// default applies) and gives no value.
func Env[T any](lookup func(string) (string, bool), key string, parse func(string) (T, error), warn func(error)) func() (T, bool) {
	return func() (T, bool) {
		var zero T
		s, ok := lookup(key)
		if !ok || s == "" {
			return zero, false
		}
		v, err := parse(s)
		if err != nil {
			if warn != nil {
				warn(fmt.Errorf("%s=%q: %w; using the default", key, s, err))
			}
			return zero, false
		}
		return v, true
	}
}

// Errors collects the invalid values options were given. The zero Errors
// is ready to use; its sentinel, set by NewErrors, is wrapped by each
// error it collects.
type Errors struct {
	sentinel error
	errs     []error
}

// NewErrors returns an Errors whose errors wrap sentinel (the package's
// ErrInvalidOption).
func NewErrors(sentinel error) *Errors { return &Errors{sentinel: sentinel} }

// Reject records an invalid value, described by format and args (by
// convention "WithX(value): what is wrong").
func (e *Errors) Reject(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	if e.sentinel != nil {
		err = fmt.Errorf("%w: %w", e.sentinel, err)
	}
	e.errs = append(e.errs, err)
}

// Err returns the collected errors joined, or nil.
func (e *Errors) Err() error { return errors.Join(e.errs...) }

// Number is what the numeric checks take.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Positive rejects v ≤ 0 given to option opt, and reports whether v was
// valid.
func Positive[N Number](e *Errors, opt string, v N) bool {
	if v <= 0 {
		e.Reject("%s(%v): must be positive", opt, v)
		return false
	}
	return true
}

// NonNegative rejects v < 0 given to option opt, and reports whether v was
// valid.
func NonNegative[N Number](e *Errors, opt string, v N) bool {
	if v < 0 {
		e.Reject("%s(%v): must not be negative", opt, v)
		return false
	}
	return true
}

// Between rejects v outside [lo, hi] given to option opt, and reports
// whether v was valid. A NaN is outside every range.
func Between[N Number](e *Errors, opt string, v, lo, hi N) bool {
	if !(v >= lo && v <= hi) {
		e.Reject("%s(%v): must be within [%v, %v]", opt, v, lo, hi)
		return false
	}
	return true
}

// NotNil rejects a nil value given to option opt — a nil interface, or
// an interface holding a nil pointer, func, map, slice or channel — and
// reports whether v was valid.
func NotNil(e *Errors, opt string, v any) bool {
	if nilness.Is(v) {
		e.Reject("%s(nil): must not be nil", opt)
		return false
	}
	return true
}

// Apply calls apply for each option in order, and rejects the nil ones:
// a nil option is a mistake in the program, reported like an invalid
// value, in every package.
func Apply[O comparable](e *Errors, opts []O, apply func(O)) {
	var zero O
	for i, o := range opts {
		if o == zero {
			e.Reject("option %d is nil", i)
			continue
		}
		apply(o)
	}
}
