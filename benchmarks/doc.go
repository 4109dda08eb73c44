// Package benchmarks compares steadylog's processor with the OTel Go SDK's
// sdklog.BatchProcessor side by side, in one run, so that their ratio is
// trustworthy even on a machine whose absolute speed drifts.
//
// Both processors run with their default settings (queue 2048 records,
// batch 512, interval 1 s) in front of the same do-nothing exporter, and
// every sub-benchmark shuts its processor down before it returns. Names
// carry the implementation as the last key, so
//
//	benchstat -col '/impl@(sdk steadylog noop)' bench.txt
//
// prints one column per processor with the SDK as the base. The benchmarks:
//
//   - BenchmarkOnEmit/shape=S/par=P/impl=I — Processor.OnEmit alone, serial
//     (par=serial) or under RunParallel with SetParallelism(P), that is
//     P×GOMAXPROCS goroutines.
//   - BenchmarkEmit/shape=S/impl=I — the full Logger.Emit path of an
//     sdklog.LoggerProvider; impl=noop is a processor that does nothing, so
//     a processor's share of the call is t(impl) − t(noop).
//   - BenchmarkSlog/shape=S/impl=I — the same through log/slog and the
//     otelslog bridge.
//   - BenchmarkOnEmitHung/impl=I — OnEmit latency percentiles from 8
//     goroutines while every Export blocks for 2 s.
//   - BenchmarkShedAtSource/shed=X/impl=I — an INFO call through log/slog
//     and otelslog while the exporter is blocked and the queue full:
//     shed=off builds the record and evicts the oldest, shed=warn
//     (processor.WithShedBelow(log.SeverityWarn)) has Enabled answer false
//     so slog never builds it. The SDK runs as shed=off.
//
// Shapes are small (60-character body, 3 attributes), medium (10
// attributes including a nested map) and large (4 KiB body). Besides time
// and allocations, each throughput benchmark reports dropped-%: the share of
// emitted records that never reached the exporter, so a fast result that
// came from dropping is visible as such.
//
// The programs under cmd/ measure what a benchmark loop cannot: sustained
// throughput with many goroutines (cmd/sustained), peak memory with 1 MiB
// records and a slow exporter (cmd/memory; with -gomemlimit and the impl
// steadylog-noheap it shows what heap-pressure shedding does under a memory
// limit), and OnEmit latency under a hung
// exporter at a realistic rate (cmd/hung). cmd/summarize turns all results
// into a markdown report; scripts/bench.sh runs everything.
//
// cmd/service measures a whole program instead: a net/http service in a
// child process, logging 3 records per request through log/slog, otelslog,
// each processor with its defaults and otlploghttp to a real OpenTelemetry
// Collector, under closed-loop load, with the Collector healthy, SIGKILLed
// (1 s, 5 s) or SIGSTOPped (8 s), sdk and steadylog in interleaved pairs and
// a no-logging baseline. It counts what the Collector received, and reports
// requests/s, latency, CPU per request, losses in the fault window and paired
// ratios; scripts/bench-service.sh runs it.
package benchmarks
