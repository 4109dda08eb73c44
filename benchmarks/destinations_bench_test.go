package benchmarks

import (
	"context"
	"fmt"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

// BenchmarkEmitDestinations measures the full Logger.Emit path of a small
// record with one and with two destinations, serially and from 32×GOMAXPROCS
// goroutines:
//
//   - impl=sdk: one SDK BatchProcessor per destination (the SDK's way to
//     send to two places: each processor copies the record);
//   - impl=steadylog: processor.New(exp), or processor.New(exporter.MustFanout(a, b)),
//     which stores each record once and gives each member a destination;
//   - impl=noop: a do-nothing processor, the cost of everything else, to
//     subtract.
func BenchmarkEmitDestinations(b *testing.B) {
	shape := harness.Shapes()[0] // small
	rec := shape.APIRecord()
	for _, dests := range []int{1, 2} {
		for _, par := range []int{0, 32} {
			for _, impl := range fullPathImpls() {
				name := fmt.Sprintf("dests=%d/par=%s/impl=%s", dests, parName(par), impl)
				b.Run(name, func(b *testing.B) {
					exps := make([]*harness.CountingExporter, dests)
					for i := range exps {
						exps[i] = &harness.CountingExporter{}
					}
					lp := sdklog.NewLoggerProvider(destinationsProcessors(b, impl, exps)...)
					logger := lp.Logger("github.com/steadylog/steadylog/benchmarks")
					ctx := context.Background()
					b.ReportAllocs()
					if par == 0 {
						for b.Loop() {
							logger.Emit(ctx, rec)
						}
					} else {
						b.SetParallelism(par)
						b.ResetTimer()
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								logger.Emit(ctx, rec)
							}
						})
					}
					var counted *harness.CountingExporter
					if impl != harness.ImplNoop {
						counted = exps[dests-1]
					}
					finish(b, lp.Shutdown, counted, b.N)
				})
			}
		}
	}
}

func destinationsProcessors(b *testing.B, impl string, exps []*harness.CountingExporter) []sdklog.LoggerProviderOption {
	b.Helper()
	switch impl {
	case harness.ImplSDK:
		opts := make([]sdklog.LoggerProviderOption, len(exps))
		for i, e := range exps {
			opts[i] = sdklog.WithProcessor(sdklog.NewBatchProcessor(e))
		}
		return opts
	case harness.ImplSteadylog:
		var exp sdklog.Exporter = exps[0]
		if len(exps) > 1 {
			members := make([]sdklog.Exporter, len(exps))
			for i, e := range exps {
				members[i] = e
			}
			exp = exporter.MustFanout(members...)
		}
		p, err := processor.New(exp, processor.WithoutDropAlerts())
		if err != nil {
			b.Fatal(err)
		}
		return []sdklog.LoggerProviderOption{sdklog.WithProcessor(p)}
	default:
		return []sdklog.LoggerProviderOption{sdklog.WithProcessor(harness.NoopProcessor{})}
	}
}
