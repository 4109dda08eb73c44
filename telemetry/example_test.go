package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"

	"github.com/steadylog/steadylog/breaker"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/telemetry"
)

// A DropAlerter summarises drops by reason. Report checks once, as the
// goroutine of Start does every interval.
func ExampleDropAlerter() {
	dropped := map[string]uint64{}
	source := func() map[string]uint64 { return dropped }
	// Drop the time, and the span of the message ("in the last 10s"), so
	// the output is stable.
	span := regexp.MustCompile(` in the last [^:]+:`)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case slog.MessageKey:
				return slog.String(a.Key, span.ReplaceAllString(a.Value.String(), ":"))
			}
			return a
		},
	}))
	a, err := telemetry.NewDropAlerter(source,
		telemetry.WithAlertLogger(logger),
		telemetry.WithAlertNoun("log records"),
		telemetry.WithAlertAttrs("otel.component.name", "audit-log"))
	if err != nil {
		panic(err)
	}
	dropped["queue_full"], dropped["byte_limit"] = 1500, 20
	a.Report()
	fmt.Println(a.Report()) // nothing new: no line
	dropped["queue_full"] = 1510
	if err := a.Shutdown(context.Background()); err != nil { // a final summary of what is left
		panic(err)
	}
	// Output:
	// level=WARN msg="dropped 1520 log records: queue_full=1500, byte_limit=20" dropped=1520 otel.component.name=audit-log
	// false
	// level=WARN msg="dropped 10 log records: queue_full=10" dropped=10 otel.component.name=audit-log
}

// An ErrorReporter writes the first error of a kind at once and its
// repeats as one summary per interval. Errors that differ only in their
// numbers are one kind.
func ExampleErrorReporter() {
	// Drop the time and the interval a summary covers, so the output is
	// stable, and tell the example when the reporter's goroutine has
	// written a line.
	wrote := make(chan struct{}, 1)
	logger := slog.New(slog.NewTextHandler(notifyWriter{os.Stdout, wrote}, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "interval" {
				return slog.Attr{}
			}
			return a
		},
	}))
	r, err := telemetry.NewErrorReporter(
		telemetry.WithErrorLogger(logger),
		telemetry.WithErrorAttrs("otel.component.name", "audit-log"))
	if err != nil {
		panic(err)
	}
	r.Handle(errors.New("export of 512 records failed: connection refused"))
	<-wrote // written at once: Handle waited for it (at most FirstLineWait)
	for _, n := range []int{498, 7, 12} {
		r.Handle(fmt.Errorf("export of %d records failed: connection refused", n))
	}
	// Counted, not written: the summary would come at the next interval.
	// Shutdown writes it now.
	if err := r.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// level=ERROR msg="steadylog: error" count=1 error="export of 512 records failed: connection refused" otel.component.name=audit-log
	// level=ERROR msg="steadylog: error" count=3 error="export of 12 records failed: connection refused" otel.component.name=audit-log
}

// notifyWriter writes to w and signals each write on wrote.
type notifyWriter struct {
	w     io.Writer
	wrote chan struct{}
}

func (n notifyWriter) Write(p []byte) (int, error) {
	defer func() {
		select {
		case n.wrote <- struct{}{}:
		default:
		}
	}()
	return n.w.Write(p)
}

// ObserveBreaker reports a breaker's state as metrics.
func ExampleObserveBreaker() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	b := breaker.MustNew(breaker.Config{Name: "otlp"})
	if _, err := telemetry.ObserveBreaker(mp, b); err != nil {
		panic(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, p := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Gauge[int64]).DataPoints {
		state, _ := p.Attributes.Value(telemetry.KeyState)
		fmt.Println(state.AsString(), p.Value)
	}
	// Unordered output:
	// closed 1
	// half-open 0
	// open 0
}
