package processor

import (
	"context"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// telemetryConfig holds the self-observability settings (options in this
// file). It is a field of config.
type telemetryConfig struct{}

// telemetryState is the processor's self-observability: OTel metrics and
// drop alerts. It is a field of Processor. The zero value records nothing.
type telemetryState struct{}

// start is called by New once the processor is built, before its worker
// starts. An error fails New.
func (t *telemetryState) start(p *Processor) error { return nil }

// exported is called by the worker after each Export call returns, before
// the batch is accounted and recycled: recs are the records of the batch,
// started is when the call began, err its result (nil on success).
func (t *telemetryState) exported(ctx context.Context, recs []sdklog.Record, started time.Time, err error) {
}

// stop is called once when Shutdown returns (either way). Metric callbacks
// may stay registered, so the final counts can still be collected.
func (t *telemetryState) stop() {}
