package exporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/classifyctx"
	"github.com/steadylog/steadylog/retry"
)

// Under a steadylog processor, the classifier in the export's context
// replaces the decorator's own, is applied once however many breakers are
// stacked, and its result is marked so that the processor does not
// classify it again.
func TestWithBreakerUsesTheProcessorsClassifier(t *testing.T) {
	inner := &fakeExporter{export: failing(errBackend)}
	b1, b2 := newTestBreaker(newFakeClock(), 1), newTestBreaker(newFakeClock(), 1)
	var own, ctxCalls int
	ownClassifier := WithStandaloneClassifier(func(err error) error { own++; return err })
	exp := MustBreaker(MustBreaker(inner, b1, ownClassifier), b2, ownClassifier)

	ctx := classifyctx.With(context.Background(), func(err error) error { ctxCalls++; return retry.Permanent(err) })
	err := exp.Export(ctx, makeRecords(t, 1))
	assert.ErrorIs(t, err, errBackend)
	assert.True(t, retry.IsPermanent(err))
	assert.True(t, classifyctx.Done(err), "marked for the processor")
	assert.Equal(t, 1, ctxCalls, "applied once")
	assert.Zero(t, own, "the standalone classifier does not apply")
	assert.Equal(t, breaker.Closed, b1.State())
	assert.Equal(t, breaker.Closed, b2.State())

	// Without a processor's classifier, the standalone one applies.
	err = exp.Export(context.Background(), makeRecords(t, 1))
	assert.False(t, classifyctx.Done(err))
	assert.Equal(t, 2, own, "once per breaker: stacking standalone classifiers is the caller's choice")
	assert.Equal(t, breaker.Open, b1.State())
}
