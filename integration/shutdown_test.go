package integration

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/integration/harness"
)

const (
	// shutdownGrace is the child's shutdown deadline (lifecycle.WithTimeout).
	shutdownGrace = 5 * time.Second
	// shutdownMargin is how much later than the deadline the child may exit:
	// printing the report and process exit on a loaded 2-core machine.
	shutdownMargin = 2 * time.Second
)

// TestShutdownSIGTERMWithFrozenCollector runs an application as a child
// process, freezes its log collector with SIGSTOP, and sends the child
// SIGTERM. The lifecycle Manager's Graceful strategy must end the process
// within its deadline although the log backend never answers (the records
// logged during the shutdown cannot be delivered and are counted as dropped),
// and the final counts — updated while the logs shut down — must still reach
// Prometheus through the metrics pipeline, which is shut down after the logs.
//
// The metrics go to a second collector: SIGSTOP freezes a whole collector,
// and a metric export into a frozen process cannot succeed, however the
// shutdown is ordered. Keeping the drop metrics off the path whose failure
// they report is the deployment this test models.
func TestShutdownSIGTERMWithFrozenCollector(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	prom := harness.PrometheusBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	child := harness.BuildGo(t, filepath.Join(repoRoot(t), "integration"), "./internal/shutdownchild")
	logsCol := harness.StartCollector(t, otelcol)
	metricsCol := harness.StartCollector(t, otelcol)
	p := harness.StartPrometheus(t, prom, harness.ScrapeTarget{Job: "steadylog", Addr: metricsCol.PromExporterAddr})

	logPath := filepath.Join(t.TempDir(), "child.log")
	proc, err := harness.StartProcess(t, "shutdownchild", logPath, child,
		"-logs", logsCol.HTTPAddr, "-metrics", metricsCol.HTTPAddr, "-grace", shutdownGrace.String(),
		// Short exports, and a failing batch is given up after half a
		// second, so the logs finish shutting down well before the deadline
		// and the MeterProvider, next in line, has time for its final export.
		// With the default retry budget the processor's Shutdown keeps
		// retrying until the deadline whenever an attempt is in flight, and
		// the metrics are then shut down with an ended context: their final
		// export is skipped.
		"-export-timeout", "250ms", "-retry-max-elapsed", "500ms")
	require.NoError(t, err)
	ready, err := harness.WaitForLine(ctx, logPath, "ready ", proc.Done())
	require.NoError(t, err)
	t.Logf("child: %s", ready)
	assert.Regexp(t, `^ready received=\d+ exported=[1-9]\d*$`, ready, "the start-up records were exported")

	// The metrics path works before the trouble starts.
	processed := `sum(otel_sdk_processor_log_processed_total{otel_component_name="shutdownchild"})`
	_, err = p.API.WaitQuery(ctx, processed, func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value > 0 })
	require.NoError(t, err, "the child's metrics never reached Prometheus")

	require.NoError(t, logsCol.Stop())
	frozen := true
	defer func() {
		if frozen {
			_ = logsCol.Cont()
		}
	}()
	sigterm := time.Now()
	require.NoError(t, proc.Signal(syscall.SIGTERM))
	select {
	case <-proc.Done():
	case <-time.After(shutdownGrace + shutdownMargin):
		t.Fatalf("child still running %v after SIGTERM (grace %v):\n%s", shutdownGrace+shutdownMargin, shutdownGrace, proc.LogTail(30))
	}
	exitedAfter := time.Since(sigterm)
	require.NoError(t, proc.ExitErr(), "child exit status:\n%s", proc.LogTail(30))
	require.NoError(t, logsCol.Cont())
	frozen = false

	head, err := harness.WaitForLine(ctx, logPath, "shutdown graceful (signal terminated)", proc.Done())
	require.NoError(t, err, "the report shows the Graceful strategy, started by the signal")
	final, err := harness.WaitForLine(ctx, logPath, "final ", proc.Done())
	require.NoError(t, err)
	t.Logf("child exited %v after SIGTERM (grace %v)\n%s", exitedAfter.Round(time.Millisecond), shutdownGrace, proc.LogTail(12))

	fields := finalFields(t, final)
	assert.Positive(t, fields["dropped"], "records logged into a frozen collector are counted as dropped")
	assert.Contains(t, final, " export_failed=", "batches the frozen collector never acknowledged are counted")
	assert.Equal(t, fields["received"], fields["processed"], "the shutdown left nothing queued or in flight")
	assert.Regexp(t, regexp.MustCompile(`^shutdown graceful \(signal terminated\): .* \d+ exported, \d+ dropped`), head)

	// The final counts reach Prometheus, equal to what the child printed.
	// The child has exited: its last export has arrived by now or never
	// will, so a few scrape intervals are enough.
	qctx, qcancel := context.WithTimeout(ctx, 15*time.Second)
	defer qcancel()
	want := float64(fields["processed"])
	got, err := p.API.WaitQuery(qctx, processed, func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value == want })
	require.NoError(t, err, "final processed total %v not in Prometheus (last %v)", want, got)
	dropped := `sum(otel_sdk_processor_log_processed_total{otel_component_name="shutdownchild",error_type!=""})`
	got, err = p.API.WaitQuery(qctx, dropped, func(s []harness.Sample) bool {
		return len(s) == 1 && s[0].Value == float64(fields["dropped"])
	})
	require.NoError(t, err, "final dropped total %d not in Prometheus (last %v)", fields["dropped"], got)
	t.Logf("Prometheus has the final counts: processed=%v dropped=%d", want, fields["dropped"])
}

// finalFields parses the integers of the child's "final k=v ..." line.
func finalFields(t *testing.T, line string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, m := range regexp.MustCompile(`\b(processed|exported|dropped|received)=(\d+)`).FindAllStringSubmatch(line, 4) {
		v, err := strconv.ParseUint(m[2], 10, 64)
		require.NoError(t, err)
		out[m[1]] = v
	}
	require.Len(t, out, 4, "final line %q", line)
	return out
}
