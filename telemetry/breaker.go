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

// ErrMeterProviderPanic is wrapped by the error of ObserveBreaker when the
// MeterProvider, its Meter or an instrument constructor panicked, or gave
// a nil Meter or Registration. The panic was recovered.
var ErrMeterProviderPanic = errors.New("steadylog/telemetry: meter provider panicked")

// ObserveBreaker registers the breaker metrics of b with a meter of mp:
// MetricBreakerState and MetricBreakerTransitions, both observed from b's
// snapshots when the metrics are collected, so b's calls pay nothing.
//
// The series carry otel.component.type = ComponentTypeBreaker and
// otel.component.name = b.Name(), or ComponentName(ComponentTypeBreaker)
// when b has no name. Unregister the returned registration to stop
// observing b; observing the same breaker twice reports it twice.
//
// mp is the caller's code: a panic in it (in Meter, an instrument
// constructor or RegisterCallback), a nil Meter or a nil Registration
// makes ObserveBreaker return an error wrapping ErrMeterProviderPanic,
// never panic; an error it returns is wrapped and returned. The callback
// registered recovers a panic of the Observer and returns it as its error.
func ObserveBreaker(mp metric.MeterProvider, b *breaker.Breaker) (reg metric.Registration, err error) {
	if mp == nil {
		return nil, ErrNilMeterProvider
	}
	if b == nil {
		return nil, ErrNilBreaker
	}
	defer func() {
		if r := recover(); r != nil {
			reg, err = nil, fmt.Errorf("%w: %v", ErrMeterProviderPanic, r)
		}
	}()
	return observeBreaker(mp, b)
}

func observeBreaker(mp metric.MeterProvider, b *breaker.Breaker) (metric.Registration, error) {
	name := b.Name()
	if name == "" {
		name = ComponentName(ComponentTypeBreaker)
	}
	base := []attribute.KeyValue{KeyComponentType.String(ComponentTypeBreaker), KeyComponentName.String(name)}
	with := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue(nil), base...), kv...)...))
	}

	m := mp.Meter(BreakerScope)
	if m == nil {
		return nil, fmt.Errorf("%w: Meter returned nil", ErrMeterProviderPanic)
	}
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

	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("steadylog/telemetry: breaker metrics: observer panicked: %v", r)
			}
		}()
		cur := b.State()
		for i, s := range states {
			var v int64
			if s == cur {
				v = 1
			}
			o.ObserveInt64(state, v, stateOpts[i])
		}
		// The four changes a breaker makes are reported from the start, at
		// 0 until they happen: a counter series that first appears at 1
		// shows no increase, and a dashboard's increase() would miss the
		// first outage. Any other pair is reported once it has a count.
		tr := b.Transitions()
		for from, tos := range transOpts {
			for to, opt := range tos {
				n := tr.Count(breaker.State(from), breaker.State(to))
				if n > 0 || usualTransition(breaker.State(from), breaker.State(to)) {
					o.ObserveInt64(trans, int64(n), opt)
				}
			}
		}
		return nil
	}, state, trans)
	if err != nil {
		return nil, fmt.Errorf("steadylog/telemetry: breaker metrics callback: %w", err)
	}
	if reg == nil {
		return nil, fmt.Errorf("%w: RegisterCallback returned no registration", ErrMeterProviderPanic)
	}
	return reg, nil
}

// usualTransition reports whether from → to is one of the changes a
// breaker makes: closed → open, open → half-open, half-open → closed and
// half-open → open.
func usualTransition(from, to breaker.State) bool {
	switch {
	case from == breaker.Closed && to == breaker.Open,
		from == breaker.Open && to == breaker.HalfOpen,
		from == breaker.HalfOpen && (to == breaker.Closed || to == breaker.Open):
		return true
	}
	return false
}
