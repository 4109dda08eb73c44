// Package recordtest builds sdklog.Records the way a LoggerProvider does —
// with a resource, an instrumentation scope and the SDK's attribute limits,
// which a zero sdklog.Record lacks (it keeps no attributes) — for tests.
package recordtest

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// Capture is an sdklog.Processor that keeps a clone of every record.
type Capture struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

// OnEmit keeps a clone of r.
func (c *Capture) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}

// Enabled reports true.
func (c *Capture) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

// Shutdown does nothing.
func (c *Capture) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing.
func (c *Capture) ForceFlush(context.Context) error { return nil }

// Records returns the records kept so far.
func (c *Capture) Records() []sdklog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sdklog.Record(nil), c.recs...)
}

// Emit emits recs through a new LoggerProvider made with opts, from a
// Logger named scope, and returns the records the provider built.
func Emit(opts []sdklog.LoggerProviderOption, scope string, recs ...log.Record) []sdklog.Record {
	c := &Capture{}
	lp := sdklog.NewLoggerProvider(append([]sdklog.LoggerProviderOption{sdklog.WithProcessor(c)}, opts...)...)
	l := lp.Logger(scope)
	for _, r := range recs {
		l.Emit(context.Background(), r)
	}
	_ = lp.Shutdown(context.Background())
	return c.Records()
}

// Numbered returns n records with the bodies "0", "1", …, severity Info
// and one timestamp.
func Numbered(n int) []sdklog.Record {
	recs := make([]log.Record, n)
	for i := range recs {
		recs[i].SetBody(attribute.StringValue(strconv.Itoa(i)))
		recs[i].SetSeverity(log.SeverityInfo)
		recs[i].SetTimestamp(time.Unix(1700000000, 0))
	}
	return Emit(nil, "test", recs...)
}
