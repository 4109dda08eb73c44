package otlperr

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

var errBackend = errors.New("backend down")

// collector is a Processor that keeps clones of the records emitted to it,
// to build real records for tests.
type collector struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (c *collector) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.mu.Lock()
	c.records = append(c.records, r.Clone())
	c.mu.Unlock()
	return nil
}
func (c *collector) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (c *collector) Shutdown(context.Context) error                         { return nil }
func (c *collector) ForceFlush(context.Context) error                       { return nil }

// makeRecords returns n real records with bodies "0", "1", ...
func makeRecords(t *testing.T, n int) []sdklog.Record {
	t.Helper()
	c := &collector{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(c))
	defer func() { _ = lp.Shutdown(context.Background()) }()
	l := lp.Logger("test")
	for i := range n {
		var r log.Record
		r.SetBody(attribute.StringValue(strconv.Itoa(i)))
		r.SetSeverity(log.SeverityInfo)
		r.SetTimestamp(time.Unix(1700000000, 0))
		l.Emit(context.Background(), r)
	}
	return c.records
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1700000000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
