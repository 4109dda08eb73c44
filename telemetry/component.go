package telemetry

import (
	"strconv"
	"sync"
)

// Component types, the values of the otel.component.type attribute on
// steadylog's metrics.
//
// The semantic conventions reserve short snake_case values such as
// batching_log_processor for the SDK's own components. steadylog's
// components follow the same shape but carry a steadylog_ prefix: a
// dashboard must never mistake them for the SDK's processor, whose metrics
// may be exported by the same MeterProvider, and the value stays short
// enough to be the stem of otel.component.name (the conventions' fallback,
// the Go type name github.com/steadylog/steadylog/processor.Processor, would
// make every series name unreadable).
const (
	// ComponentTypeProcessor is the type of a processor.Processor.
	ComponentTypeProcessor = "steadylog_batching_log_processor"
	// ComponentTypeBreaker is the type of a breaker.Breaker observed with
	// ObserveBreaker.
	ComponentTypeBreaker = "steadylog_circuit_breaker"
	// ComponentTypeDestination is the type of one destination of a
	// processor.Processor: its accounting is published as an exporter's,
	// on otel.sdk.exporter.log.exported and otel.sdk.exporter.log.inflight,
	// with otel.component.name "<processor name>/<destination name>".
	ComponentTypeDestination = "steadylog_log_destination"
)

var (
	counterMu sync.Mutex
	counters  = map[string]int{}
)

// ComponentName returns a new otel.component.name for a component of type
// typ: "<typ>/<n>", where n counts the names handed out for typ in this
// process, starting at 0. This is the form the semantic conventions
// recommend: unique within the process, stable for the component's life,
// and of low cardinality across restarts.
//
// The count of every typ is kept for the life of the process, so typ must
// come from a small fixed set, such as the ComponentType constants, never
// from unbounded input.
func ComponentName(typ string) string {
	counterMu.Lock()
	n := counters[typ]
	counters[typ] = n + 1
	counterMu.Unlock()
	return typ + "/" + strconv.Itoa(n)
}
