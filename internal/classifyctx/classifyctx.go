// Package classifyctx carries a processor's error classifier, through the
// context of an Export call, to the breaker decorators below it
// (exporter.NewBreaker), so that a destination has one classifier, applied
// once per error, whose verdict both the breaker and the processor see.
//
// The processor puts its classifier in the context with [With]. A breaker
// decorator that finds it ([From]) applies it, instead of its own, to its
// exporter's error before reporting the call to the breaker, and returns
// the result marked with [Mark]. The processor then classifies only an
// error that no decorator classified ([Done] is false): an exporter without
// a breaker, a breaker's refusal, a fallback's error joined to the
// primary's.
package classifyctx

import "context"

type key struct{}

// With returns ctx carrying classify, which must handle a nil error and
// recover its own panics.
func With(ctx context.Context, classify func(error) error) context.Context {
	return context.WithValue(ctx, key{}, classify)
}

// From returns the classifier ctx carries, if any.
func From(ctx context.Context) (func(error) error, bool) {
	c, ok := ctx.Value(key{}).(func(error) error)
	return c, ok && c != nil
}

// classified marks an error the context's classifier has seen.
type classified struct{ err error }

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// Mark marks err as classified; its text, and what errors.Is and errors.As
// find in it, do not change. Mark(nil) is nil.
func Mark(err error) error {
	if err == nil || Done(err) {
		return err
	}
	return &classified{err: err}
}

// Done reports whether err as a whole was marked by [Mark]: the mark is
// looked for along err's chain of single wraps only, not inside the errors
// an errors.Join (or a multi-%w fmt.Errorf) combines, since a combination
// may hold errors nobody classified.
func Done(err error) bool {
	for err != nil {
		if _, ok := err.(*classified); ok {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
