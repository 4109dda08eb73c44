package harness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// CountingExporter does no work but count what it is given. It is the
// exporter of every throughput benchmark: with it, the time measured is the
// processor's own.
type CountingExporter struct {
	records atomic.Uint64
	calls   atomic.Uint64
}

var _ sdklog.Exporter = (*CountingExporter)(nil)

// Export counts the records and returns at once.
func (e *CountingExporter) Export(_ context.Context, records []sdklog.Record) error {
	e.records.Add(uint64(len(records)))
	e.calls.Add(1)
	return nil
}

// Shutdown does nothing.
func (e *CountingExporter) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing.
func (e *CountingExporter) ForceFlush(context.Context) error { return nil }

// Exported reports how many records Export has been given.
func (e *CountingExporter) Exported() uint64 { return e.records.Load() }

// Calls reports how many times Export has been called.
func (e *CountingExporter) Calls() uint64 { return e.calls.Load() }

// SlowExporter counts records like CountingExporter but takes Delay for every
// Export call, as a remote endpoint would. It honours ctx.
type SlowExporter struct {
	CountingExporter
	// Delay is how long each Export takes.
	Delay time.Duration
}

// Export waits Delay (or until ctx ends), then counts the records.
func (e *SlowExporter) Export(ctx context.Context, records []sdklog.Record) error {
	t := time.NewTimer(e.Delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.CountingExporter.Export(ctx, records)
}

// HungExporter models an endpoint that accepts the connection and never
// answers: each Export blocks for Hold, ignoring its context, unless Release
// has been called. Records are counted only when an Export returns.
//
// Release exists so a measurement can end promptly: after it, every Export
// (current and future) returns at once.
type HungExporter struct {
	CountingExporter
	// Hold is how long each Export blocks.
	Hold time.Duration

	once    sync.Once
	release chan struct{}
}

// NewHungExporter returns a HungExporter whose Export blocks for hold.
func NewHungExporter(hold time.Duration) *HungExporter {
	return &HungExporter{Hold: hold, release: make(chan struct{})}
}

// Export blocks for Hold or until Release, deliberately ignoring ctx.
func (e *HungExporter) Export(ctx context.Context, records []sdklog.Record) error {
	t := time.NewTimer(e.Hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.release:
	}
	return e.CountingExporter.Export(ctx, records)
}

// Release unblocks every current and future Export. It is safe to call more
// than once.
func (e *HungExporter) Release() { e.once.Do(func() { close(e.release) }) }
