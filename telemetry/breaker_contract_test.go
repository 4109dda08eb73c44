package telemetry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/steadylog/steadylog/breaker"
)

// The package does not import breaker; these pin the contract between them.
var _ ObservableBreaker = (*breaker.Breaker)(nil)

func TestBreakerStateNamesAreTheBreakers(t *testing.T) {
	assert.Equal(t, StateClosed, breaker.Closed.String())
	assert.Equal(t, StateHalfOpen, breaker.HalfOpen.String())
	assert.Equal(t, StateOpen, breaker.Open.String())
	for i, s := range []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open} {
		assert.Equal(t, i, breakerStateIndex(s.String()))
	}
	assert.Equal(t, -1, breakerStateIndex("State(7)"))
}

func TestObserveBreakerRejectsTypedNil(t *testing.T) {
	var b *breaker.Breaker
	_, err := ObserveBreaker(noop.NewMeterProvider(), b)
	require.ErrorIs(t, err, ErrNilBreaker)
}
