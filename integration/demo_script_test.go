package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/integration/harness"
)

// TestDemoStackScript runs the users' way into the demo, scripts/demo-stack.sh,
// as the README tells them: `up` brings the stack up and returns with it
// running, `stop-collector`/`start-collector` make an outage that
// Prometheus shows in loadgen's own metrics, `down` leaves nothing behind —
// no container, no process of the stack, no engine it started, no state.
// Here no registry is reachable, so the script picks the stand-in images
// (STEADYLOG_DEMO_IMAGES=auto would pick them too; the test says standin so
// that a machine with a registry runs the same stack). It needs what
// TestComposeStack needs, and runs beside it in scripts/test's compose step.
func TestDemoStackScript(t *testing.T) {
	begin := time.Now()
	otelcolBin := harness.OtelcolBin(t)
	promBin := harness.PrometheusBin(t)
	for _, bin := range []string{"docker", "docker-compose", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			harness.Missing(t, bin+" is not installed")
		}
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		if _, err := exec.LookPath("dockerd"); err != nil || os.Geteuid() != 0 {
			harness.Missing(t, "no Docker engine runs, and the script can start one only as root with dockerd installed")
		}
	}
	if err := harness.PortsFree(composeHost, composePorts...); err != nil {
		harness.Missing(t, fmt.Sprintf("the demo stack needs ports %v on %s: %v", composePorts, composeHost, err))
	}
	root := repoRoot(t)
	state := filepath.Join(t.TempDir(), "state")
	project := fmt.Sprintf("steadylog-demo-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	script := func(arg string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "demo-stack.sh"), arg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(),
			"STEADYLOG_DEMO_IMAGES=standin",
			"STEADYLOG_DEMO_STATE="+state,
			"STEADYLOG_DEMO_PROJECT="+project,
			"STEADYLOG_OTELCOL_BIN="+otelcolBin,
			"STEADYLOG_PROMETHEUS_BIN="+promBin,
		)
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			out, err := script("down")
			if err != nil {
				t.Errorf("demo-stack.sh down: %v\n%s", err, out)
			}
		}
	})

	out, err := script("up")
	require.NoError(t, err, "demo-stack.sh up:\n%s", out)
	upTook := time.Since(begin)
	require.Contains(t, out, "Prometheus: http://127.0.0.1:9090")
	envFile, err := os.ReadFile(filepath.Join(state, "env"))
	require.NoError(t, err, "the script records its state")
	t.Logf("demo-stack.sh up in %v; state: %s", upTook.Round(time.Millisecond), strings.ReplaceAll(strings.TrimSpace(string(envFile)), "\n", ", "))

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	prom := &harness.PromAPI{BaseURL: "http://" + net.JoinHostPort(composeHost, "9090"), Client: client}
	// The stack stays up after the script returned, and data flows.
	flowCtx, flowCancel := context.WithTimeout(ctx, time.Minute)
	defer flowCancel()
	_, err = prom.WaitQuery(flowCtx, `sum(otel_sdk_processor_log_processed_total{job="steadylog",error_type=""})`,
		func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value > 0 })
	require.NoError(t, err, "loadgen's exported counter never reached Prometheus")
	_, err = prom.WaitQuery(flowCtx, `steadylog_breaker_state{job="steadylog",state="closed"}`,
		func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value == 1 })
	require.NoError(t, err, "loadgen's breaker is closed against a healthy collector")

	// An outage, as the README tells users to make one.
	out, err = script("stop-collector")
	require.NoError(t, err, "demo-stack.sh stop-collector:\n%s", out)
	outageCtx, outageCancel := context.WithTimeout(ctx, composeOutageMax)
	defer outageCancel()
	_, err = prom.WaitQuery(outageCtx, openExpr, func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value == 1 })
	require.NoError(t, err, "Prometheus did not show the breaker open while the collector was stopped")
	out, err = script("start-collector")
	require.NoError(t, err, "demo-stack.sh start-collector:\n%s", out)

	downStart := time.Now()
	out, err = script("down")
	downDone = true
	require.NoError(t, err, "demo-stack.sh down:\n%s", out)
	downTook := time.Since(downStart)
	_, err = os.Stat(state)
	assert.True(t, os.IsNotExist(err), "the state directory is removed by down: %v", err)
	require.NoError(t, harness.PortsFree(composeHost, composePorts...), "the demo's ports after down")
	argv0s := []string{"/otelcol-contrib", "/bin/prometheus", "/loadgen"}
	procs, err := harness.Processes(func(p harness.ProcInfo) bool {
		f := strings.Fields(p.Cmdline)
		return len(f) > 0 && slices.Contains(argv0s, f[0])
	})
	require.NoError(t, err)
	assert.Empty(t, procs, "stand-in processes left on the host")
	engine, err := harness.ProcessesMentioning(state)
	require.NoError(t, err)
	assert.Empty(t, engine, "the engine the script started (dockerd, containerd) is stopped by down")
	t.Logf("timing: up %v, down %v, total %v", upTook.Round(time.Millisecond), downTook.Round(time.Millisecond),
		time.Since(begin).Round(time.Millisecond))
}
