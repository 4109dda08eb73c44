package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// ErrUnknownShape is returned by ShapeByName for a name that is not one of
// the shapes listed by Shapes.
var ErrUnknownShape = errors.New("harness: unknown record shape")

// Shape is one kind of log record the benchmarks emit. The same shape is
// available in the three forms the benchmarks need: an API record for
// Logger.Emit, an SDK record for Processor.OnEmit, and slog attributes for
// the otelslog bridge.
type Shape struct {
	// Name is the value of the shape= key in benchmark names.
	Name string
	// Body is the log message.
	Body string
	// Attrs are the record's attributes in OTel form.
	Attrs []attribute.KeyValue
	// SlogAttrs are the same attributes in slog form.
	SlogAttrs []slog.Attr
}

// Shape names.
const (
	ShapeSmall  = "small"
	ShapeMedium = "medium"
	ShapeLarge  = "large"
)

// smallBody is exactly 60 characters: a typical one-line application message.
const smallBody = "user login succeeded for account 4711 from 192.0.2.1 via sso"

// largeBodyLen is the size of the large shape's body: 4 KiB, the size of a
// stack trace or a dumped request.
const largeBodyLen = 4 << 10

// Shapes returns the three shapes in the order the benchmarks run them:
//
//   - small: a 60-character body and 3 attributes;
//   - medium: a 60-character body and 10 attributes, one a nested map — more
//     than the 5 attributes an SDK record stores inline, so cloning it
//     allocates;
//   - large: a 4 KiB body and 3 attributes.
func Shapes() []Shape {
	small3 := []attribute.KeyValue{
		attribute.String("user.id", "4711"),
		attribute.Int("http.status_code", 200),
		attribute.Bool("cache.hit", true),
	}
	medium := append(append([]attribute.KeyValue(nil), small3...),
		attribute.String("service.component", "auth"),
		attribute.Float64("duration.ms", 12.5),
		attribute.Int64("bytes.sent", 18234),
		attribute.String("trace.origin", "gateway"),
		attribute.StringSlice("roles", []string{"reader", "writer"}),
		attribute.String("client.address", "192.0.2.10"),
		attribute.Map("http",
			attribute.String("method", "POST"),
			attribute.String("route", "/v1/login"),
			attribute.Int("status", 200),
			attribute.Map("headers",
				attribute.String("user-agent", "bench/1.0"),
				attribute.String("accept", "application/json"),
			),
		),
	)
	smallSlog := []slog.Attr{
		slog.String("user.id", "4711"),
		slog.Int("http.status_code", 200),
		slog.Bool("cache.hit", true),
	}
	mediumSlog := append(append([]slog.Attr(nil), smallSlog...),
		slog.String("service.component", "auth"),
		slog.Float64("duration.ms", 12.5),
		slog.Int64("bytes.sent", 18234),
		slog.String("trace.origin", "gateway"),
		slog.Any("roles", []string{"reader", "writer"}),
		slog.String("client.address", "192.0.2.10"),
		slog.Group("http",
			slog.String("method", "POST"),
			slog.String("route", "/v1/login"),
			slog.Int("status", 200),
			slog.Group("headers",
				slog.String("user-agent", "bench/1.0"),
				slog.String("accept", "application/json"),
			),
		),
	)
	return []Shape{
		{Name: ShapeSmall, Body: smallBody, Attrs: small3, SlogAttrs: smallSlog},
		{Name: ShapeMedium, Body: smallBody, Attrs: medium, SlogAttrs: mediumSlog},
		{Name: ShapeLarge, Body: LargeBody(largeBodyLen), Attrs: small3, SlogAttrs: smallSlog},
	}
}

// ShapeByName returns the shape called name, or ErrUnknownShape.
func ShapeByName(name string) (Shape, error) {
	for _, s := range Shapes() {
		if s.Name == name {
			return s, nil
		}
	}
	return Shape{}, fmt.Errorf("%w: %q (want small, medium or large)", ErrUnknownShape, name)
}

// LargeBody returns a printable body of exactly n bytes (n ≥ 0).
func LargeBody(n int) string {
	const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
	if n <= 0 {
		return ""
	}
	return strings.Repeat(line, n/len(line)+1)[:n]
}

// fixedTime keeps timestamps constant so records are identical across runs.
var fixedTime = time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)

// APIRecord returns the shape as an API record, ready for Logger.Emit.
func (s Shape) APIRecord() log.Record {
	var r log.Record
	r.SetTimestamp(fixedTime)
	r.SetSeverity(log.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetBody(attribute.StringValue(s.Body))
	r.AddAttributes(s.Attrs...)
	return r
}

// SDKRecord returns the shape as the SDK record a LoggerProvider would hand
// to its processors, with resource and instrumentation scope set. It is
// produced by emitting the API record through a real provider and capturing
// a clone, so it is exactly what OnEmit sees in production.
func (s Shape) SDKRecord() sdklog.Record {
	c := &captureProcessor{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(c))
	lp.Logger("github.com/steadylog/steadylog/benchmarks").Emit(context.Background(), s.APIRecord())
	// A provider with only a capturing processor has nothing to flush; the
	// error cannot be non-nil.
	_ = lp.Shutdown(context.Background())
	return c.rec
}

// Slog emits the shape at info level through logger.
func (s Shape) Slog(ctx context.Context, logger *slog.Logger) {
	logger.LogAttrs(ctx, slog.LevelInfo, s.Body, s.SlogAttrs...)
}

// captureProcessor keeps a clone of the last record it saw.
type captureProcessor struct{ rec sdklog.Record }

func (c *captureProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.rec = r.Clone()
	return nil
}
func (c *captureProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (c *captureProcessor) Shutdown(context.Context) error                         { return nil }
func (c *captureProcessor) ForceFlush(context.Context) error                       { return nil }
