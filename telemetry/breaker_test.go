package telemetry

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/steadylog/steadylog/breaker"
)

func TestObserveBreakerRejectsNil(t *testing.T) {
	_, err := ObserveBreaker(nil, breaker.MustNew(breaker.Config{}))
	require.ErrorIs(t, err, ErrNilMeterProvider)
	_, err = ObserveBreaker(noop.NewMeterProvider(), nil)
	require.ErrorIs(t, err, ErrNilBreaker)
	reg, err := ObserveBreaker(noop.NewMeterProvider(), breaker.MustNew(breaker.Config{}))
	require.NoError(t, err)
	require.NoError(t, reg.Unregister())
}
