package memguard

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// captureProcessor stores a clone of every record by value, the way a
// queueing processor does.
type captureProcessor struct {
	slots []sdklog.Record
}

func (p *captureProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

func (p *captureProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	p.slots = append(p.slots, r.Clone())
	return nil
}

func (p *captureProcessor) Shutdown(context.Context) error   { return nil }
func (p *captureProcessor) ForceFlush(context.Context) error { return nil }

// recordShape builds the body and attributes of record i. Every string that
// is not a key is freshly allocated and unique to i, so that the records
// really keep it alive and share nothing.
type recordShape struct {
	name  string
	build func(i int) (body string, attrs []attribute.KeyValue)
}

// fresh returns a new string of exactly n bytes, unique to i.
func fresh(i, n int) string {
	prefix := fmt.Sprintf("%08d:", i)
	if n <= len(prefix) {
		return prefix[:n]
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(prefix)
	b.WriteString(strings.Repeat("x", n-len(prefix)))
	return b.String()
}

var (
	smallShape = recordShape{"small", func(i int) (string, []attribute.KeyValue) {
		return fresh(i, 60), []attribute.KeyValue{
			attribute.String("user.id", fresh(i, 13)),
			attribute.Int("http.response.status_code", 200+i%300),
			attribute.String("url.path", fresh(i, 21)),
		}
	}}
	mediumShape = recordShape{"medium", func(i int) (string, []attribute.KeyValue) {
		return fresh(i, 60), []attribute.KeyValue{
			attribute.String("user.id", fresh(i, 13)),
			attribute.Int("http.response.status_code", 200+i%300),
			attribute.String("url.path", fresh(i, 21)),
			attribute.String("http.request.method", fresh(i, 9)),
			attribute.Float64("duration", float64(i)/3),
			attribute.String("server.address", fresh(i, 24)),
			attribute.Int64("bytes", int64(i)*1024),
			attribute.Bool("cache.hit", i%2 == 0),
			attribute.String("trace.note", fresh(i, 40)),
			attribute.KeyValue{Key: "request", Value: attribute.MapValue(
				attribute.String("agent", fresh(i, 30)),
				attribute.Int("retries", i%5),
				attribute.String("client", fresh(i, 17)),
			)},
		}
	}}
	largeShape = recordShape{"large", func(i int) (string, []attribute.KeyValue) {
		return fresh(i, 4096), []attribute.KeyValue{
			attribute.String("user.id", fresh(i, 13)),
		}
	}}
	shapes = []recordShape{smallShape, mediumShape, largeShape}
)

// newCaptureLogger returns a logger of a real LoggerProvider whose records
// are cloned into p.
func newCaptureLogger(t testing.TB, p *captureProcessor) log.Logger {
	t.Helper()
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	t.Cleanup(func() { require.NoError(t, provider.Shutdown(context.Background())) })
	return provider.Logger("memguard-test")
}

// emit emits record i of shape s through l.
func emit(l log.Logger, s recordShape, i int) {
	body, attrs := s.build(i)
	var r log.Record
	r.SetSeverity(log.SeverityInfo)
	r.SetBody(attribute.StringValue(body))
	r.AddAttributes(attrs...)
	l.Emit(context.Background(), r)
}

// makeRecord returns one cloned record of shape s.
func makeRecord(t testing.TB, s recordShape, i int) sdklog.Record {
	t.Helper()
	p := &captureProcessor{}
	emit(newCaptureLogger(t, p), s, i)
	require.Len(t, p.slots, 1)
	return p.slots[0]
}
