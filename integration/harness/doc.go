// Package harness runs the real parts of a logging pipeline — an OpenTelemetry
// Collector and a Prometheus server — as child processes of a Go test, so that
// steadylog's end-to-end tests can assert what actually arrived rather than what an
// in-memory fake claims.
//
// Every process runs on 127.0.0.1 with ports chosen free at run time, in its own
// process group, and is stopped by PID (the whole group) when the test ends, pass
// or fail. Readiness is polled with a deadline; nothing sleeps a fixed time.
//
// Binaries come from the environment so that a plain `go test ./...` stays fast
// and hermetic:
//
//	STEADYLOG_OTELCOL_BIN      the collector built by scripts/build-otelcol.sh
//	STEADYLOG_PROMETHEUS_BIN   Prometheus, e.g. from scripts/install-prometheus.sh
//
// When a binary is not set the test is skipped with instructions, unless
// STEADYLOG_REQUIRE_INTEGRATION=1 (as in CI), which turns a missing binary into a
// failure: a green CI run must mean the end-to-end tests really ran.
//
// A typical test:
//
//	col := harness.StartCollector(t, harness.OtelcolBin(t))
//	exp, _ := otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
//	// ... emit records carrying an integer "seq" attribute ...
//	col.WaitForSentLogRecords(ctx, n)
//	count, _ := col.Count("seq")  // count.Distinct, count.Duplicates, ...
//
// [StartDocker] provides a Docker engine for the test that runs the demo's
// compose stack: a running one (DOCKER_HOST, /var/run/docker.sock) or a
// dockerd it starts itself, self-contained under a temporary directory (own
// socket, data and exec roots, no bridge, no iptables) and stops by PID, with
// a check that none of its processes outlives it. [Compose] drives a
// docker-compose (v1) project on it.
//
// The collector writes every log record it receives to a JSON-lines file (the
// contrib file exporter with append: true, so a restart keeps what was written);
// [CountFile] reads it back, tolerating the torn last line that a SIGKILL leaves;
// [ScanFile] counts the same without decoding, for outputs of hundreds of
// thousands of records. [ReadMemory] reads a child process's resident memory,
// and [WriteResults] writes a test's measurements when STEADYLOG_RESULTS_DIR
// asks for them.
package harness
