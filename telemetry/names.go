package telemetry

import (
	"slices"

	"go.opentelemetry.io/otel/attribute"
)

// Metric names and units that the semantic conventions do not define.
// Those they do define (otel.sdk.processor.log.*) are created with the
// constructors of go.opentelemetry.io/otel/semconv/v1.43.0/otelconv, which
// carry their names, units and descriptions.
const (
	// MetricQueueBytes is the estimated heap size of the queued records.
	MetricQueueBytes = "steadylog.processor.queue.bytes"
	// MetricQueueBytesCapacity is the byte budget of the queue.
	MetricQueueBytesCapacity = "steadylog.processor.queue.bytes.capacity"
	// MetricExportDuration is the duration of one Export call.
	MetricExportDuration = "steadylog.processor.export.duration"
	// MetricQueueWait is the time from a record's observed timestamp to
	// the end of the Export call that carried it.
	MetricQueueWait = "steadylog.processor.queue.wait"
	// MetricBackPressure is 1 while a processor's queue is above its high
	// watermark (until it falls below the low one), else 0.
	MetricBackPressure = "steadylog.processor.backpressure"
	// MetricBreakerState is 1 for a breaker's current state, 0 for the
	// others.
	MetricBreakerState = "steadylog.breaker.state"
	// MetricBreakerTransitions counts a breaker's state changes.
	MetricBreakerTransitions = "steadylog.breaker.transitions"

	// UnitBytes is the UCUM unit of byte quantities.
	UnitBytes = "By"
	// UnitSeconds is the UCUM unit of durations.
	UnitSeconds = "s"
	// UnitState is the unit of MetricBreakerState.
	UnitState = "{state}"
	// UnitTransition is the unit of MetricBreakerTransitions.
	UnitTransition = "{transition}"
)

// Attribute keys. The otel.component.* and error.type keys are those of the
// semantic conventions.
const (
	KeyComponentType = attribute.Key("otel.component.type")
	KeyComponentName = attribute.Key("otel.component.name")
	KeyErrorType     = attribute.Key("error.type")
	// KeyState is the breaker state of a MetricBreakerState series.
	KeyState = attribute.Key("state")
	// KeyFrom and KeyTo are the states of a MetricBreakerTransitions
	// series.
	KeyFrom = attribute.Key("from")
	KeyTo   = attribute.Key("to")
	// KeyDestination is the name of the processor destination an export
	// was made for, on MetricExportDuration and MetricQueueWait.
	KeyDestination = attribute.Key("steadylog.destination")
)

// DurationBuckets returns the explicit histogram bucket boundaries, in
// seconds, of MetricExportDuration and MetricQueueWait: from 1 ms, where a
// local collector answers, to 60 s, past the default export timeout of
// 30 s. The SDK's default boundaries are meant for milliseconds and would
// put every export in the first bucket. Each call returns a new slice,
// which the caller may change.
func DurationBuckets() []float64 { return slices.Clone(durationBuckets) }

var durationBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60,
}
