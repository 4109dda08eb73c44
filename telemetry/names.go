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

	// The spool metrics describe a processor's durable spool
	// (processor.WithSpool); they are registered only for a processor
	// that has one. No semantic convention covers a spool.

	// MetricSpoolBytes is the size of the spool's files.
	MetricSpoolBytes = "steadylog.processor.spool.bytes"
	// MetricSpoolRecords is the number of records in the spool that some
	// destination has not finished yet.
	MetricSpoolRecords = "steadylog.processor.spool.records"
	// MetricSpoolOldestAge is the age of the oldest record in the spool,
	// from when it was written; 0 when the spool holds none.
	MetricSpoolOldestAge = "steadylog.processor.spool.oldest.age"
	// MetricSpoolSyncDuration is the duration of one fsync of the spool
	// (every processor.WithSpoolSyncInterval, and at Shutdown).
	MetricSpoolSyncDuration = "steadylog.processor.spool.sync.duration"
	// MetricSpoolDamaged counts the records lost to damage in the spool's
	// files, found when it was opened or when they were read back.
	MetricSpoolDamaged = "steadylog.processor.spool.damaged"
	// MetricSpoolErrors counts the spool's disk failures: failed opens,
	// writes and syncs.
	MetricSpoolErrors = "steadylog.processor.spool.errors"
	// MetricSpoolDegraded is 1 while the spool is not writing because of
	// a disk failure (the processor works from memory), else 0.
	MetricSpoolDegraded = "steadylog.processor.spool.degraded"
	// MetricSpoolRecovered counts the records found in the spool when the
	// processor started, which it delivers.
	MetricSpoolRecovered = "steadylog.processor.spool.recovered"
	// MetricSpoolResent counts the recovered records that may have been
	// delivered before the restart: an upper bound on the duplicates.
	MetricSpoolResent = "steadylog.processor.spool.resent"
	// MetricSpoolLeftForNextStart counts, after Shutdown, the records
	// left in the spool for the next processor to open it.
	MetricSpoolLeftForNextStart = "steadylog.processor.spool.left_for_next_start"
	// MetricBreakerState is 1 for a breaker's current state, 0 for the
	// others.
	MetricBreakerState = "steadylog.breaker.state"
	// MetricBreakerTransitions counts a breaker's state changes.
	MetricBreakerTransitions = "steadylog.breaker.transitions"

	// UnitBytes is the UCUM unit of byte quantities.
	UnitBytes = "By"
	// UnitSeconds is the UCUM unit of durations.
	UnitSeconds = "s"
	// UnitLogRecord is the unit of counts of log records, as in the
	// semantic conventions' otel.sdk.processor.log.* metrics.
	UnitLogRecord = "{log_record}"
	// UnitError is the unit of MetricSpoolErrors.
	UnitError = "{error}"
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
// seconds, of MetricExportDuration, MetricQueueWait and
// MetricSpoolSyncDuration: from 1 ms, where a local collector answers and
// an SSD's fsync ends, to 60 s, past the default export timeout of 30 s.
// The SDK's default boundaries are meant for milliseconds and would put
// every export in the first bucket. Each call returns a new slice, which
// the caller may change.
func DurationBuckets() []float64 { return slices.Clone(durationBuckets) }

var durationBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60,
}
