// Package integration holds steadylog's end-to-end tests: the library in a real
// pipeline — log/slog → otelslog → steadylog processor → OTLP exporter → a real
// OpenTelemetry Collector (built from integration/otelcol) → its file output,
// with Prometheus scraping the collector — and checks on the deploy/ assets and
// docker-compose.yaml.
//
// The tests need two binaries and skip without them (fail, when
// STEADYLOG_REQUIRE_INTEGRATION=1):
//
//	STEADYLOG_OTELCOL_BIN=$(scripts/build-otelcol.sh | tail -1) \
//	STEADYLOG_PROMETHEUS_BIN=$(scripts/install-prometheus.sh | tail -1) \
//	go test -race -v ./integration/...
//
// What they prove:
//
//   - TestHarnessSelfTest: the harness itself — the SDK's BatchProcessor over
//     OTLP/HTTP delivers exactly N records to the collector's file, and
//     Prometheus scrapes the collector (up == 1).
//   - TestDelivery: 100 000 records through steadylog over OTLP/HTTP and
//     OTLP/gRPC arrive exactly once each, and Stats agrees (all exported, none
//     dropped).
//   - TestOutageSIGKILL: the collector is SIGKILLed mid-stream and restarted
//     three times; every record steadylog received is in the collector's output
//     or counted as dropped with a reason, and Stats' invariant holds throughout.
//     The SDK's BatchProcessor runs the same scenario for comparison (its losses
//     are visible only by counting the output).
//   - TestOutageSIGKILLQueueForOutage: the same outages with a queue that holds
//     them: steadylog drops nothing and every record reaches the file; the
//     SDK's BatchProcessor, with the same queue, still loses each failed batch.
//   - TestSpoolBridgesLongOutage: a child process logs 10,000 records/s
//     through a processor with a spool and the default 32 MiB byte budget
//     while the collector is SIGKILLed for 60 s and restarted: every record
//     reaches the collector's file, Stats count no drop, the backlog is
//     replayed while the load goes on, and the child's resident memory
//     stays within 2.2 times the sum of its baseline peak and the budget
//     (the heap goal at GOGC=100, plus the scavenger's 10%).
//   - TestSelfTelemetryReachesPrometheus: steadylog's own metrics travel over
//     OTLP to the collector and are scraped by Prometheus.
//   - TestHangSIGSTOP: the collector is frozen for 15 s; OnEmit latency stays
//     flat, the breaker opens, queued plus in-flight bytes stay within the
//     budget, and delivery resumes after SIGCONT.
//   - TestShutdownSIGTERMWithFrozenCollector: a child process under
//     lifecycle.Manager gets SIGTERM while its log collector is frozen; it exits
//     within its grace period and its final drop counters reach Prometheus.
//   - TestDashboardQueriesReturnData: every PromQL expression of the Grafana
//     dashboard returns data from the real Prometheus.
//   - TestComposeStack: docker-compose.yaml runs for real under a Docker engine
//     (started by the test when none runs, and stopped by PID) with local
//     stand-in images (integration/compose): loadgen's records reach the
//     Collector, the self-metrics reach the stack's Prometheus, every
//     dashboard query returns data, a 10 s Collector outage opens and closes
//     the breaker, loadgen's final accounting balances against what the
//     Collector logged, and `down` leaves no container, network or process.
//     It also needs docker.io (scripts/install-docker.sh) and docker-compose.
//   - deploy tests: docker-compose.yaml parses (docker-compose 1.29), the demo
//     collector config validates, the Prometheus config passes promtool, the
//     Grafana dashboard is well-formed.
//
// The harness (integration/harness) runs every process on 127.0.0.1 with free
// ports and stops it by PID when the test ends, pass or fail.
package integration
