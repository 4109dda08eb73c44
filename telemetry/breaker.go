package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/steadylog/steadylog/breaker"
)

// BreakerScope is the instrumentation scope of the breaker metrics.
const BreakerScope = "github.com/steadylog/steadylog/breaker"

// ErrNilMeterProvider is returned when a nil metric.MeterProvider is given.
var ErrNilMeterProvider = errors.New("steadylog/telemetry: meter provider is nil")

// ErrNilBreaker is returned by ObserveBreaker for a nil breaker.
var ErrNilBreaker = errors.New("steadylog/telemetry: breaker is nil")

// ObserveBreaker registers the breaker metrics of b with a meter of mp:
// MetricBreakerState and MetricBreakerTransitions, both observed from b's
// snapshots when the metrics are collected, so b's calls pay nothing.
//
// The series carry otel.component.type = ComponentTypeBreaker and
// otel.component.name = b.Name(), or ComponentName(ComponentTypeBreaker)
// when b has no name. Unregister the returned registration to stop
// observing b; observing the same breaker twice reports it twice.
func ObserveBreaker(mp metric.MeterProvider, b *breaker.Breaker) (metric.Registration, error) {
	if mp == nil {
		return nil, ErrNilMeterProvider
	}
	if b == nil {
		return nil, ErrNilBreaker
	}
	name := b.Name()
	if name == "" {
		name = ComponentName(ComponentTypeBreaker)
	}
	base := []attribute.KeyValue{KeyComponentType.String(ComponentTypeBreaker), KeyComponentName.String(name)}
	with := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue(nil), base...), kv...)...))
	}

	m := mp.Meter(BreakerScope)
	state, err := m.Int64ObservableGauge(MetricBreakerState,
		metric.WithUnit(UnitState),
		metric.WithDescription("1 for the circuit breaker's current state, 0 for its other states."))
	if err != nil {
		return nil, fmt.Errorf("steadylog/telemetry: %s: %w", MetricBreakerState, err)
	}
	trans, err := m.Int64ObservableCounter(MetricBreakerTransitions,
		metric.WithUnit(UnitTransition),
		metric.WithDescription("The number of state changes of the circuit breaker, by the states they went from and to."))
	if err != nil {
		return nil, fmt.Errorf("steadylog/telemetry: %s: %w", MetricBreakerTransitions, err)
	}

	states := []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open}
	stateOpts := make([]metric.ObserveOption, len(states))
	for i, s := range states {
		stateOpts[i] = with(KeyState.String(s.String()))
	}
	// Every attribute set is built here, once: the callback allocates
	// nothing for them, and needs no lock when readers collect at once.
	var transOpts [3][3]metric.ObserveOption
	for _, from := range states {
		for _, to := range states {
			transOpts[from][to] = with(KeyFrom.String(from.String()), KeyTo.String(to.String()))
		}
	}

	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		cur := b.State()
		for i, s := range states {
			var v int64
			if s == cur {
				v = 1
			}
			o.ObserveInt64(state, v, stateOpts[i])
		}
		b.Transitions().Each(func(from, to breaker.State, n uint64) {
			o.ObserveInt64(trans, int64(n), transOpts[from][to])
		})
		return nil
	}, state, trans)
}
