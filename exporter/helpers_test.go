package exporter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/recordtest"
)

// makeRecords returns n real records with bodies "0", "1", ...
func makeRecords(t *testing.T, n int) []sdklog.Record {
	t.Helper()
	return recordtest.Numbered(n)
}

func bodies(records []sdklog.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.Body().AsString()
	}
	return out
}

// fakeExporter records what it is given and behaves as export says.
type fakeExporter struct {
	mu       sync.Mutex
	batches  [][]string
	calls    int
	flushes  int
	shutdown int
	// export, if set, decides the outcome of each Export (after recording).
	export func(ctx context.Context, call int) error
	flush  func(ctx context.Context) error
	stop   func(ctx context.Context) error
}

func (f *fakeExporter) Export(ctx context.Context, records []sdklog.Record) error {
	f.mu.Lock()
	f.calls++
	call := f.calls
	f.batches = append(f.batches, bodies(records))
	fn := f.export
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, call)
	}
	return nil
}

func (f *fakeExporter) ForceFlush(ctx context.Context) error {
	f.mu.Lock()
	f.flushes++
	fn := f.flush
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx)
	}
	return nil
}

func (f *fakeExporter) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.shutdown++
	fn := f.stop
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx)
	}
	return nil
}

func (f *fakeExporter) setExport(fn func(ctx context.Context, call int) error) {
	f.mu.Lock()
	f.export = fn
	f.mu.Unlock()
}

func (f *fakeExporter) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeExporter) Batches() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...)
}

func (f *fakeExporter) Counts() (flushes, shutdowns int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushes, f.shutdown
}

var errBackend = errors.New("backend down")

func failing(err error) func(context.Context, int) error {
	return func(context.Context, int) error { return err }
}

// newFakeClock returns a breaker.Clock that moves only when told to.
func newFakeClock() *clock.Fake { return clock.NewFake(time.Unix(1700000000, 0)) }
