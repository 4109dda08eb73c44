package benchmarks

import (
	"context"
	"fmt"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/processor"
)

// Implementation names of BenchmarkEmitTelemetry.
const (
	implSteadylog        = "steadylog"
	implSteadylogMetrics = "steadylog+metrics"
)

// BenchmarkEmitTelemetry measures what self-telemetry adds to the full
// Logger.Emit path: the same processor without and with
// processor.WithMeterProvider (an SDK MeterProvider with a manual reader,
// so every instrument records into a live aggregation). Drop alerts are
// off in both, so the difference is the metrics alone. The target is at
// most 5% added time and no added allocation per record.
func BenchmarkEmitTelemetry(b *testing.B) {
	shape := mustShape(b, harness.ShapeSmall)
	rec := shape.APIRecord()
	for _, impl := range []string{implSteadylog, implSteadylogMetrics} {
		b.Run(fmt.Sprintf("shape=%s/impl=%s", shape.Name, impl), func(b *testing.B) {
			opts := []processor.Option{processor.WithoutDropAlerts()}
			var mp *sdkmetric.MeterProvider
			var reader *sdkmetric.ManualReader
			if impl == implSteadylogMetrics {
				reader = sdkmetric.NewManualReader()
				mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
				opts = append(opts, processor.WithMeterProvider(mp))
			}
			exp := &harness.CountingExporter{}
			p, err := processor.New(exp, opts...)
			if err != nil {
				b.Fatal(err)
			}
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
			logger := lp.Logger("github.com/steadylog/steadylog/benchmarks")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				logger.Emit(ctx, rec)
			}
			finish(b, lp.Shutdown, exp, b.N)
			if mp != nil {
				if err := mp.Shutdown(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
