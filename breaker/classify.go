package breaker

import (
	"context"
	"errors"

	"github.com/steadylog/steadylog/retry"
)

// DefaultClassify is the classifier used when [Config.Classify] is nil:
//
//   - nil is a success;
//   - an error marked [retry.Permanent] is ignored: the backend answered, the
//     request was bad, and that says nothing about the backend's health;
//   - [context.Canceled] is ignored: the caller gave up, the backend was not
//     at fault;
//   - every other error, including [context.DeadlineExceeded] (a backend
//     that hangs is exactly what a breaker exists for), is a failure.
//
// The check for context.Canceled comes after the check for permanence and
// uses errors.Is, so an error wrapping context.Canceled is ignored too.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case retry.IsPermanent(err):
		return OutcomeIgnored
	case errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		return OutcomeIgnored
	default:
		return OutcomeFailure
	}
}
