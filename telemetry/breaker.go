package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/steadylog/steadylog/internal/nilness"
)

// BreakerScope is the instrumentation scope of the breaker metrics.
const BreakerScope = "github.com/steadylog/steadylog/breaker"

// ErrNilMeterProvider is returned when a nil metric.MeterProvider is given.
var ErrNilMeterProvider = errors.New("steadylog/telemetry: meter provider is nil")

// ErrNilBreaker is returned by ObserveBreaker for a nil breaker, typed nil
// included.
var ErrNilBreaker = errors.New("steadylog/telemetry: breaker is nil")

// ErrMeterProviderPanic is wrapped by the error of ObserveBreaker when the
// MeterProvider, its Meter or an instrument constructor panicked, or gave
// a nil Meter or Registration. The panic was recovered.
var ErrMeterProviderPanic = errors.New("steadylog/telemetry: meter provider panicked")

// The breaker states, as the state, from and to attributes of the breaker
// metrics name them (breaker.State.String spells them so).
const (
	StateClosed   = "closed"
	StateHalfOpen = "half-open"
	StateOpen     = "open"
)

// ObservableBreaker is what ObserveBreaker reads of a circuit breaker when
// the metrics are collected. *breaker.Breaker implements it; this package
// does not import package breaker.
type ObservableBreaker interface {
	// Name names the breaker's series; "" gives them a default name.
	Name() string
	// StateName returns the current state: StateClosed, StateHalfOpen or
	// StateOpen.
	StateName() string
	// EachTransition calls fn for every pair of states the breaker has
	// changed between, with the number of changes since it was made.
	EachTransition(fn func(from, to string, n uint64))
}

// ObserveBreaker registers the breaker metrics of b, usually a
// *breaker.Breaker, with a meter of mp: MetricBreakerState and
// MetricBreakerTransitions, both observed from b's snapshots when the
// metrics are collected, so b's calls pay nothing. exporter.NewBreaker's
// option WithBreakerMeterProvider calls it.
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
func ObserveBreaker(mp metric.MeterProvider, b ObservableBreaker) (reg metric.Registration, err error) {
	if mp == nil {
		return nil, ErrNilMeterProvider
	}
	if nilness.Is(b) {
		return nil, ErrNilBreaker
	}
	defer func() {
		if r := recover(); r != nil {
			reg, err = nil, fmt.Errorf("%w: %v", ErrMeterProviderPanic, r)
		}
	}()
	return observeBreaker(mp, b)
}

func observeBreaker(mp metric.MeterProvider, b ObservableBreaker) (metric.Registration, error) {
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

	stateOpts := make([]metric.ObserveOption, len(breakerStates))
	for i, s := range breakerStates {
		stateOpts[i] = with(KeyState.String(s))
	}
	// Every attribute set is built here, once: the callback allocates
	// nothing for them, and needs no lock when readers collect at once.
	var transOpts [3][3]metric.ObserveOption
	for from, f := range breakerStates {
		for to, t := range breakerStates {
			transOpts[from][to] = with(KeyFrom.String(f), KeyTo.String(t))
		}
	}

	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("steadylog/telemetry: breaker metrics: observer panicked: %v", r)
			}
		}()
		cur := b.StateName()
		for i, s := range breakerStates {
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
		var counts [3][3]uint64
		b.EachTransition(func(from, to string, n uint64) {
			f, t := breakerStateIndex(from), breakerStateIndex(to)
			if f >= 0 && t >= 0 {
				counts[f][t] = n
			}
		})
		for from, tos := range transOpts {
			for to, opt := range tos {
				n := counts[from][to]
				if n > 0 || usualTransition(from, to) {
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

// breakerStates are the states a breaker reports, in the order of its
// series.
var breakerStates = [3]string{StateClosed, StateHalfOpen, StateOpen}

const (
	closedIndex = iota
	halfOpenIndex
	openIndex
)

// breakerStateIndex returns the index of the state named s in
// breakerStates, or -1 for a name it does not know.
func breakerStateIndex(s string) int {
	for i, name := range breakerStates {
		if name == s {
			return i
		}
	}
	return -1
}

// usualTransition reports whether from → to (indexes in breakerStates) is
// one of the changes a breaker makes: closed → open, open → half-open,
// half-open → closed and half-open → open.
func usualTransition(from, to int) bool {
	switch {
	case from == closedIndex && to == openIndex,
		from == openIndex && to == halfOpenIndex,
		from == halfOpenIndex && (to == closedIndex || to == openIndex):
		return true
	}
	return false
}
