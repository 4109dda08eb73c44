package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

const (
	// composeHost is where the stand-in override makes every service of the
	// demo listen (see the override).
	composeHost = "127.0.0.1"
	// composeOutage is how long the collector stays stopped at least; it
	// stays stopped longer (up to composeOutageMax) until Prometheus has
	// shown the outage in loadgen's own metrics.
	composeOutage = 10 * time.Second
	// composeOutageMax bounds the wait for the outage to show in
	// Prometheus (it scrapes every 5 s).
	composeOutageMax = 45 * time.Second
	// standinOverride is the override compose file, relative to the
	// repository root.
	standinOverride = "integration/compose/docker-compose.standin.yaml"
)

// composePorts are the demo's fixed ports: OTLP gRPC and HTTP, the
// collector's own metrics, its Prometheus exporter, loadgen's metrics
// endpoint, Prometheus.
var composePorts = []int{4317, 4318, 8888, 8889, 9464, 9090}

// standinService is the part of a compose service the override check reads.
type standinService struct {
	Image       string    `yaml:"image"`
	Command     []string  `yaml:"command"`
	NetworkMode string    `yaml:"network_mode"`
	ExtraHosts  []string  `yaml:"extra_hosts"`
	Profiles    []string  `yaml:"profiles"`
	Ports       yaml.Node `yaml:"ports"`
}

// TestComposeStandinOverride checks the override TestComposeStack runs the
// demo with, without an engine: every service on the host network with the
// service name resolving to composeHost, stand-in images under their own
// name, Grafana behind a profile, and the collector's and Prometheus'
// commands exactly docker-compose.yaml's plus listen addresses on
// composeHost (and the collector's log sampling off), so that the stack the
// test runs is the committed one.
func TestComposeStandinOverride(t *testing.T) {
	checkStandinOverride(t)
}

func checkStandinOverride(t *testing.T) {
	t.Helper()
	var base, over struct {
		Services map[string]standinService `yaml:"services"`
	}
	readYAML(t, "docker-compose.yaml", &base)
	readYAML(t, standinOverride, &over)
	require.ElementsMatch(t, slices.Collect(maps.Keys(base.Services)), slices.Collect(maps.Keys(over.Services)),
		"the override covers exactly docker-compose.yaml's services")
	for name, o := range over.Services {
		require.Equal(t, "host", o.NetworkMode, "service %s: network_mode", name)
		if name == "grafana" {
			require.Equal(t, []string{"grafana"}, o.Profiles, "grafana has no stand-in: it stays behind a profile")
			continue
		}
		require.Empty(t, o.Profiles, "service %s must run", name)
		require.Contains(t, o.ExtraHosts, "otelcol:"+composeHost, "service %s: extra_hosts", name)
		require.Equal(t, "steadylog-standin/"+name+":${STEADYLOG_STANDIN_TAG:-test}", o.Image, "service %s: image", name)
		require.Zero(t, o.Ports.Kind, "service %s: ports in the override would be merged, not replace", name)
	}
	for _, name := range []string{"otelcol", "prometheus"} {
		b, o := base.Services[name].Command, over.Services[name].Command
		require.NotEmpty(t, b, "docker-compose.yaml: service %s has no command", name)
		require.Greater(t, len(o), len(b), "service %s: the override's command", name)
		require.Equal(t, b, o[:len(b)], "service %s: the override's command starts with docker-compose.yaml's", name)
		for _, arg := range o[len(b):] {
			ok := strings.Contains(arg, composeHost+":") || strings.Contains(arg, `"`+composeHost+`"`) ||
				arg == "--set=service.telemetry.logs.sampling.enabled=false"
			require.True(t, ok, "service %s: the override adds %q, which is not a listen address on %s", name, arg, composeHost)
		}
	}
}

// TestComposeStack runs the demo of docker-compose.yaml for real under a
// Docker engine (started by the harness when none runs), with local stand-in
// images of the upstream ones (integration/compose), and checks what the demo
// promises:
//
//   - the collector starts with deploy/otelcol/config.yaml in the contrib
//     image's layout (FROM scratch, uid 10001) and Prometheus with the
//     compose command (Debian's 2.42 in prom/prometheus' layout, as nobody);
//   - loadgen's records reach the collector, and steadylog's own metrics
//     reach Prometheus, which scrapes them from loadgen itself;
//   - during a collector outage (docker-compose stop, at least 10 s, then
//     start) Prometheus shows, before the collector is back, loadgen's
//     breaker open, its drops or queue rising and its export errors; the
//     breaker closes again after it, as Prometheus shows;
//   - every query of the committed Grafana dashboard returns data from the
//     stack's Prometheus, after the outage, except the Spool row's (loadgen
//     has no spool);
//   - at loadgen's SIGTERM its final accounting holds (received = exported +
//     dropped + queued + in flight, and it received all it emitted), and the
//     collector's two runs together took at least every record steadylog
//     counted as exported;
//   - docker-compose down leaves no container, network, volume or process.
func TestComposeStack(t *testing.T) {
	begin := time.Now()
	otelcolBin := harness.OtelcolBin(t)
	promBin := harness.PrometheusBin(t)
	checkStandinOverride(t)
	root := repoRoot(t)
	if err := harness.PortsFree(composeHost, composePorts...); err != nil {
		// The demo's ports are fixed: they are in its configuration files.
		harness.Missing(t, fmt.Sprintf("the compose stack needs ports %v on %s: %v", composePorts, composeHost, err))
	}
	d := harness.StartDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	engineReady := time.Since(begin)

	// A unique project per run: its containers and the stand-ins' tag.
	project := fmt.Sprintf("steadylog-compose-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	images := buildStandins(ctx, t, d, root, project, otelcolBin, promBin)
	imagesBuilt := time.Since(begin)
	if !d.Started {
		// A reused engine keeps its images: remove ours (after the down below).
		t.Cleanup(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
			defer ccancel()
			if _, err := d.Run(cctx, append([]string{"rmi"}, images...)...); err != nil {
				t.Errorf("removing the stand-in images: %v", err)
			}
		})
	}

	c := &harness.Compose{
		Docker:  d,
		Project: project,
		Dir:     root,
		Files:   []string{composeWithoutPorts(t), filepath.Join(root, standinOverride)},
		Env:     []string{"STEADYLOG_STANDIN_TAG=" + project},
	}
	downDone := false
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if downDone {
			return
		}
		if t.Failed() {
			t.Logf("docker-compose logs (last 40 lines of each service):\n%s", c.Logs(cctx, 40))
		}
		if err := c.Down(cctx); err != nil {
			t.Errorf("docker-compose down: %v", err)
		}
		if left, err := c.Leftovers(cctx); err != nil || len(left) > 0 {
			t.Errorf("left after docker-compose down: %v (%v)", left, err)
		}
	})

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	prom := &harness.PromAPI{BaseURL: "http://" + net.JoinHostPort(composeHost, "9090"), Client: client}
	colMetrics := "http://" + net.JoinHostPort(composeHost, "8888") + "/metrics"
	accepted := func(ctx context.Context) (float64, error) {
		return scrape(ctx, client, colMetrics, "otelcol_receiver_accepted_log_records")
	}

	// The collector and Prometheus first, then loadgen once the collector
	// listens: a breaker trip must be the outage's, not a start-up race's.
	_, err := c.Run(ctx, "up", "-d", "--no-build", "otelcol", "prometheus")
	require.NoError(t, err)
	colID, err := c.ContainerID(ctx, "otelcol")
	require.NoError(t, err)
	promID, err := c.ContainerID(ctx, "prometheus")
	require.NoError(t, err)
	require.NoError(t, waitCollectorUp(ctx, d, client, colID, colMetrics), "the collector did not start")
	require.NoError(t, harness.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		return httpOK(ctx, client, prom.BaseURL+"/-/ready")
	}), "Prometheus did not become ready")
	stackUp := time.Since(begin)
	_, err = c.Run(ctx, "up", "-d", "--no-build", "loadgen")
	require.NoError(t, err)
	loadgenID, err := c.ContainerID(ctx, "loadgen")
	require.NoError(t, err)

	// The images' users, seen from the host: the stand-ins keep the
	// upstream layout.
	for id, uid := range map[string]int{colID: 10001, promID: 65534, loadgenID: 65532} {
		procs, err := harness.ContainerProcesses(id)
		require.NoError(t, err)
		require.NotEmpty(t, procs, "no host process runs in container %.12s", id)
		for _, p := range procs {
			assert.Equal(t, uid, p.UID, "container %.12s: process %d (%s) user", id, p.Pid, p.Cmdline)
		}
	}

	// loadgen's records reach the collector...
	flowCtx, flowCancel := context.WithTimeout(ctx, time.Minute)
	defer flowCancel()
	require.NoError(t, harness.Poll(flowCtx, 200*time.Millisecond, func() (bool, error) {
		v, err := accepted(flowCtx)
		return v > 0, err
	}), "the collector accepted no log records")
	// ...and steadylog's own metrics reach Prometheus, scraped from loadgen
	// itself (-metrics prometheus), not through the collector.
	exportedExpr := `sum(otel_sdk_processor_log_processed_total{job="steadylog",error_type=""})`
	_, err = prom.WaitQuery(flowCtx, exportedExpr, func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value > 0 })
	require.NoError(t, err, "steadylog's exported counter never reached Prometheus")
	_, err = prom.WaitQuery(flowCtx, `up`, func(s []harness.Sample) bool { return len(s) == 4 && allValues(s, 1) })
	require.NoError(t, err, "Prometheus scrapes its four targets (loadgen, the collector's exporter and own metrics, itself)")
	closedExpr := `steadylog_breaker_state{otel_component_name="collector",state="closed"}`
	_, err = prom.WaitQuery(flowCtx, closedExpr, func(s []harness.Sample) bool { return len(s) == 1 && s[0].Value == 1 })
	require.NoError(t, err, "loadgen's breaker is closed against a healthy collector")
	transitionsExpr := `sum by (from, to) (steadylog_breaker_transitions_total{otel_component_name="collector"})`
	before, err := prom.Query(ctx, transitionsExpr)
	require.NoError(t, err)
	flowing := time.Since(begin)

	// The outage: docker-compose stop sends SIGTERM; the collector shuts
	// down gracefully (flushing its batch to the debug exporter) and stays
	// down for composeOutage.
	acceptedRun1, err := accepted(ctx)
	require.NoError(t, err)
	dropsBefore, err := promScalar(ctx, prom, dropsExpr)
	require.NoError(t, err)
	errorsBefore, err := promScalar(ctx, prom, exportErrorsExpr)
	require.NoError(t, err)
	queueBefore, err := promScalar(ctx, prom, queueExpr)
	require.NoError(t, err)
	stopped := time.Now()
	_, err = c.Run(ctx, "stop", "otelcol")
	require.NoError(t, err)
	state, err := d.Inspect(ctx, colID, "{{.State.Status}} {{.State.ExitCode}}")
	require.NoError(t, err)
	require.Equal(t, "exited 0", state, "the collector exits cleanly on SIGTERM")
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(composeHost, "4318"), time.Second)
	if err == nil {
		_ = conn.Close()
	}
	require.Error(t, err, "nothing serves OTLP/HTTP while the collector is stopped")
	// During the outage — the collector is still stopped — Prometheus
	// shows it in loadgen's own metrics: loadgen stays up, its breaker is
	// open, its drops or its queue rose, and its failed exports are counted.
	seen, err := waitOutageVisible(ctx, prom, stopped.Add(composeOutageMax), outageBaseline{dropsBefore, queueBefore, errorsBefore})
	require.NoError(t, err, "Prometheus did not show the outage while the collector was down")
	require.NoError(t, harness.PortsFree(composeHost, 4318), "the collector is still stopped after the outage showed")
	outageSeen := time.Since(stopped)
	// The outage's length is the point here, not a synchronisation: wait out
	// its minimum.
	timer := time.NewTimer(time.Until(stopped.Add(composeOutage)))
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		t.Fatal(ctx.Err())
	}
	_, err = c.Run(ctx, "start", "otelcol")
	require.NoError(t, err)
	outage := time.Since(stopped)
	require.NoError(t, waitCollectorUp(ctx, d, client, colID, colMetrics), "the collector did not start again")
	restarted := time.Now()

	// The breaker opened during the outage and closed again after it: its
	// transition counters (exported again once the collector is back) rose
	// by closed→open and half-open→closed, and the state is closed.
	var after []harness.Sample
	recoverCtx, recoverCancel := context.WithTimeout(ctx, 90*time.Second)
	defer recoverCancel()
	err = harness.Poll(recoverCtx, 500*time.Millisecond, func() (bool, error) {
		var err error
		if after, err = prom.Query(recoverCtx, transitionsExpr); err != nil {
			return false, err
		}
		opened := transitions(after, "closed", "open") - transitions(before, "closed", "open")
		closed := transitions(after, "half-open", "closed") - transitions(before, "half-open", "closed")
		if opened < 1 || closed < 1 {
			return false, fmt.Errorf("transitions since the outage: closed→open %v, half-open→closed %v", opened, closed)
		}
		s, err := prom.Query(recoverCtx, closedExpr)
		if err != nil {
			return false, err
		}
		return len(s) == 1 && s[0].Value == 1, fmt.Errorf("breaker closed state: %v", s)
	})
	require.NoError(t, err, "the breaker did not open and close again around the outage")
	recovered := time.Since(restarted)
	require.NoError(t, harness.Poll(recoverCtx, 200*time.Millisecond, func() (bool, error) {
		v, err := accepted(recoverCtx)
		return v > 0, err
	}), "the restarted collector accepted no log records")

	// Every query of the dashboard returns data, the outage's included:
	// the breaker transitions panel shows the trip as an increase (the
	// usual transitions are reported at 0 before they happen, so the first
	// trip is an increase Prometheus can see).
	// loadgen runs without a spool, so the Spool row stays empty in the
	// demo: its queries are run by TestDashboardQueriesReturnData, against
	// a pipeline with one.
	queries := slices.DeleteFunc(dashboardQueries(t), dashboardQuery.spool)
	qctx, qcancel := context.WithTimeout(ctx, 60*time.Second)
	defer qcancel()
	var empty []string
	var transitionsPanel string
	for _, q := range queries {
		expr := harness.GrafanaExpr(q.Expr, time.Minute)
		got, err := prom.WaitQuery(qctx, expr, func(s []harness.Sample) bool { return len(s) > 0 })
		if err != nil {
			empty = append(empty, fmt.Sprintf("%s (as run: %s): %v", q, expr, err))
			continue
		}
		if strings.Contains(expr, "steadylog_breaker_transitions_total") {
			assert.True(t, slices.ContainsFunc(got, func(s harness.Sample) bool {
				return s.Metric["from"] == "closed" && s.Metric["to"] == "open" && s.Value > 0
			}), "%s: the outage's trip does not show as an increase: %v", q, got)
			transitionsPanel = fmt.Sprintf("%s: %s", expr, formatTransitions(got))
		}
	}
	assert.Empty(t, empty, "dashboard queries without data from the stack's Prometheus")

	// loadgen stops on SIGTERM (docker-compose stop), shuts its pipeline
	// down and prints its final accounting.
	_, err = c.Run(ctx, "stop", "loadgen")
	require.NoError(t, err)
	state, err = d.Inspect(ctx, loadgenID, "{{.State.Status}} {{.State.ExitCode}}")
	require.NoError(t, err)
	assert.Equal(t, "exited 0", state, "loadgen exits cleanly on SIGTERM (a SIGKILL after the stop timeout gives 137)")
	loadgenLog, err := d.Logs(ctx, loadgenID)
	require.NoError(t, err)
	final := loadgenFinal(t, loadgenLog)
	st := final.Stats
	assert.Equal(t, final.Emitted, st.Received, "the processor received every record loadgen emitted")
	assert.Equal(t, st.Received, st.Exported+st.TotalDropped()+uint64(st.Queued)+uint64(st.InFlight),
		"received = exported + dropped + queued + in flight: %s", st)
	assert.Zero(t, st.Queued+st.InFlight, "the shutdown left nothing queued or in flight: %s", st)
	assert.Positive(t, st.Exported)
	assert.Positive(t, st.TotalDropped(), "the outage overflowed the queue, and the drops are counted: %s", st)
	assert.Equal(t, "closed", final.Breaker)
	assert.GreaterOrEqual(t, final.BreakerTrips, uint64(1), "the breaker tripped")

	// The collector's two runs together took at least what steadylog
	// counted as exported: the debug exporter logs every batch it gets
	// (after the batch processor, which a graceful stop flushes), and the
	// container's log spans both runs.
	var runs []uint64
	err = harness.Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		out, err := d.Logs(ctx, colID)
		if err != nil {
			return false, err
		}
		runs = debugRecordsByRun(out)
		return len(runs) == 2 && runs[0]+runs[1] >= st.Exported,
			fmt.Errorf("debug exporter records by collector run %v, want 2 runs and %d in all", runs, st.Exported)
	})
	require.NoError(t, err, "the collector did not get every record steadylog counted as exported")
	// The log count agrees with the collector's own counters: the first run
	// had accepted acceptedRun1 shortly before it stopped, the second run's
	// counter is its whole.
	assert.GreaterOrEqual(t, float64(runs[0]), acceptedRun1, "first run: debug records vs otelcol_receiver_accepted_log_records before the stop")
	var acceptedRun2 float64
	err = harness.Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		var err error
		acceptedRun2, err = accepted(ctx)
		return err == nil && acceptedRun2 == float64(runs[1]), err
	})
	assert.NoError(t, err, "second run: debug records %d vs otelcol_receiver_accepted_log_records %v", runs[1], acceptedRun2)

	// No restart policy hid a crash.
	for _, id := range []string{colID, promID, loadgenID} {
		n, err := d.Inspect(ctx, id, "{{.RestartCount}}")
		require.NoError(t, err)
		assert.Equal(t, "0", n, "container %.12s restarted by its restart policy", id)
	}

	// Down: nothing of the project is left — containers (Grafana's was never
	// created), networks, Prometheus' anonymous data volume, processes.
	ids, err := d.Run(ctx, "ps", "-a", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+project)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{colID, promID, loadgenID}, strings.Fields(ids), "the project's containers: no Grafana")
	volumes, err := d.Inspect(ctx, promID, `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`)
	require.NoError(t, err)
	require.Len(t, strings.Fields(volumes), 1, "Prometheus' /prometheus volume")
	if t.Failed() {
		t.Logf("docker-compose logs (last 40 lines of each service):\n%s", c.Logs(ctx, 40))
	}
	downStart := time.Now()
	err = c.Down(ctx)
	downDone = true
	require.NoError(t, err)
	downTook := time.Since(downStart)
	left, err := c.Leftovers(ctx)
	require.NoError(t, err)
	assert.Empty(t, left, "containers, networks or volumes of the project after down")
	for _, v := range strings.Fields(volumes) {
		_, err := d.Run(ctx, "volume", "inspect", v)
		assert.Error(t, err, "volume %s survived down -v", v)
	}
	for _, id := range []string{colID, promID, loadgenID} {
		procs, err := harness.ContainerProcesses(id)
		require.NoError(t, err)
		assert.Empty(t, procs, "processes of container %.12s after down", id)
	}
	argv0s := []string{"/otelcol-contrib", "/bin/prometheus", "/loadgen"}
	procs, err := harness.Processes(func(p harness.ProcInfo) bool {
		f := strings.Fields(p.Cmdline)
		return len(f) > 0 && slices.Contains(argv0s, f[0])
	})
	require.NoError(t, err)
	assert.Empty(t, procs, "stand-in processes left on the host")

	t.Logf("loadgen: emitted %d; %s; breaker %s, %d trips, %d transitions",
		final.Emitted, st, final.Breaker, final.BreakerTrips, final.BreakerTransitions)
	t.Logf("collector: %d records in its debug log (run 1: %d, run 2: %d; %d more than exported), accepted counters %v before the stop and %v at the end of run 2",
		runs[0]+runs[1], runs[0], runs[1], runs[0]+runs[1]-st.Exported, acceptedRun1, acceptedRun2)
	t.Logf("breaker transitions in Prometheus: %s; the dashboard's panel: %s", formatTransitions(after), transitionsPanel)
	t.Logf("during the outage, %v after the stop, Prometheus showed: %s", outageSeen.Round(time.Millisecond), seen)
	t.Logf("%d dashboard queries (the Spool row's aside) answered; outage %v, breaker closed %v after the restart",
		len(queries), outage.Round(time.Millisecond), recovered.Round(time.Millisecond))
	t.Logf("timing: engine %v, images %v, stack up %v, data flowing %v, down %v, total %v",
		engineReady.Round(time.Millisecond), (imagesBuilt - engineReady).Round(time.Millisecond),
		(stackUp - imagesBuilt).Round(time.Millisecond), (flowing - stackUp).Round(time.Millisecond),
		downTook.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// buildStandins builds the three stand-in images, tagged tag, each from a
// small temporary context holding its Dockerfile (integration/compose) and
// its binary: the collector distribution, Debian's Prometheus with the
// shared libraries it links, and loadgen built here with CGO_ENABLED=0. It
// returns the image names.
func buildStandins(ctx context.Context, t *testing.T, d *harness.Docker, root, tag, otelcolBin, promBin string) []string {
	t.Helper()
	dir := t.TempDir()
	dockerfiles := filepath.Join(root, "integration", "compose")
	prepare := map[string]func(ctx context.Context, dir string) error{
		"otelcol": func(_ context.Context, dir string) error {
			return copyExecutable(otelcolBin, filepath.Join(dir, "otelcol-contrib"))
		},
		"prometheus": func(_ context.Context, dir string) error {
			libs, err := sharedLibraries(promBin)
			if err != nil {
				return err
			}
			t.Logf("stand-in prometheus: %s links %v", promBin, libs)
			if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
				return err
			}
			for _, lib := range libs {
				if err := copyExecutable(lib, filepath.Join(dir, "rootfs", lib)); err != nil {
					return err
				}
			}
			if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
				return err
			}
			return copyExecutable(promBin, filepath.Join(dir, "prometheus"))
		},
		"loadgen": func(ctx context.Context, dir string) error {
			// In the examples module's directory: it builds with or without
			// the repository's go.work (GOWORK=off), as the Dockerfile does.
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "loadgen"), "./loadgen")
			cmd.Dir = filepath.Join(root, "examples")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build ./examples/loadgen: %w\n%s", err, out)
			}
			return nil
		},
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		images []string
	)
	for name, fill := range prepare {
		image := "steadylog-standin/" + name + ":" + tag
		images = append(images, image)
		wg.Go(func() {
			start := time.Now()
			ctxDir := filepath.Join(dir, name)
			err := os.Mkdir(ctxDir, 0o755)
			if err == nil {
				err = copyFile(filepath.Join(dockerfiles, name+".Dockerfile"), filepath.Join(ctxDir, "Dockerfile"), 0o644)
			}
			if err == nil {
				err = fill(ctx, ctxDir)
			}
			if err == nil {
				err = d.Build(ctx, image, ctxDir)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("stand-in %s: %w", name, err))
				return
			}
			t.Logf("built %s in %v", image, time.Since(start).Round(time.Millisecond))
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return images
}

// sharedLibraries returns the shared libraries (and the dynamic loader) a
// binary needs, as ldd resolves them; none for a static binary.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w\n%s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2]) // libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0]) // /lib64/ld-linux-x86-64.so.2 (0x…)
		}
	}
	return libs, nil
}

// copyExecutable copies src (following symlinks) to dst, mode 0755,
// creating dst's directory.
func copyExecutable(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return copyFile(src, dst, 0o755)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// composeWithoutPorts writes a copy of docker-compose.yaml without its
// services' ports: keys into a temporary directory and returns its path.
// Under host networking published ports mean nothing, docker-compose 1.29
// refuses them, and an override cannot remove them; everything else stays as
// committed (relative paths resolve against the project directory, the
// repository root).
func composeWithoutPorts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yaml"))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(b, &doc))
	require.Equal(t, yaml.DocumentNode, doc.Kind)
	services := mappingValue(doc.Content[0], "services")
	require.NotNil(t, services, "docker-compose.yaml has no services")
	removed := 0
	for i := 1; i < len(services.Content); i += 2 {
		svc := services.Content[i]
		for j := 0; j+1 < len(svc.Content); j += 2 {
			if svc.Content[j].Value == "ports" {
				svc.Content = append(svc.Content[:j], svc.Content[j+2:]...)
				removed++
				break
			}
		}
	}
	require.Positive(t, removed, "docker-compose.yaml publishes no ports")
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "docker-compose.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return path
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// waitCollectorUp polls until the collector's container runs, its OTLP
// ports and Prometheus exporter accept connections and its own metrics
// endpoint answers.
func waitCollectorUp(ctx context.Context, d *harness.Docker, client *http.Client, id, metricsURL string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return harness.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		state, err := d.Inspect(ctx, id, "{{.State.Status}}")
		if err != nil {
			return false, err
		}
		if state != "running" {
			return false, fmt.Errorf("container %s", state)
		}
		for _, port := range []string{"4317", "4318", "8889"} {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(composeHost, port), time.Second)
			if err != nil {
				return false, err
			}
			_ = conn.Close()
		}
		return httpOK(ctx, client, metricsURL)
	})
}

func httpOK(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return true, nil
}

// scrape sums a metric's samples at a Prometheus text endpoint.
func scrape(ctx context.Context, client *http.Client, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (!strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, " ")) {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: malformed sample %q", url, line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: sample %q: %w", url, line, err)
		}
		sum += v
	}
	return sum, nil
}

func allValues(s []harness.Sample, v float64) bool {
	for _, x := range s {
		if x.Value != v {
			return false
		}
	}
	return true
}

// transitions is the value of the (from, to) series of a result by from and
// to; 0 when absent.
func transitions(s []harness.Sample, from, to string) float64 {
	var sum float64
	for _, x := range s {
		if x.Metric["from"] == from && x.Metric["to"] == to {
			sum += x.Value
		}
	}
	return sum
}

func formatTransitions(s []harness.Sample) string {
	var parts []string
	for _, x := range s {
		parts = append(parts, fmt.Sprintf("%s→%s %g", x.Metric["from"], x.Metric["to"], x.Value))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// loadgenReport is the JSON of loadgen's final line (examples/loadgen).
type loadgenReport struct {
	Emitted            uint64          `json:"emitted"`
	Breaker            string          `json:"breaker"`
	BreakerTrips       uint64          `json:"breaker_trips"`
	BreakerTransitions uint64          `json:"breaker_transitions"`
	Stats              processor.Stats `json:"stats"`
}

const loadgenFinalPrefix = "loadgen: final "

// loadgenFinal finds and decodes loadgen's final accounting line in its log.
func loadgenFinal(t *testing.T, log string) loadgenReport {
	t.Helper()
	var found []string
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), loadgenFinalPrefix); ok {
			found = append(found, rest)
		}
	}
	require.Len(t, found, 1, "loadgen's final line in its log:\n%s", tail(log, 20))
	var r loadgenReport
	require.NoError(t, json.Unmarshal([]byte(found[0]), &r), found[0])
	return r
}

var (
	debugRecordsRe = regexp.MustCompile(`"otelcol\.component\.id": "debug".*"log records": (\d+)`)
	collectorReady = "Everything is ready. Begin running and processing data."
)

// debugRecordsByRun sums the "log records" of the debug exporter's lines in a
// collector log, per run of the collector (a run starts with its ready line).
func debugRecordsByRun(log string) []uint64 {
	var runs []uint64
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, collectorReady) {
			runs = append(runs, 0)
			continue
		}
		if m := debugRecordsRe.FindStringSubmatch(line); m != nil && len(runs) > 0 {
			n, err := strconv.ParseUint(m[1], 10, 64)
			if err == nil {
				runs[len(runs)-1] += n
			}
		}
	}
	return runs
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// What TestComposeStack asks Prometheus during the outage, from loadgen's
// own endpoint (job steadylog).
const (
	openExpr         = `max(steadylog_breaker_state{job="steadylog",otel_component_name="collector",state="open"})`
	dropsExpr        = `sum(otel_sdk_processor_log_processed_total{job="steadylog",error_type!=""}) or vector(0)`
	queueExpr        = `sum(otel_sdk_processor_log_queue_size{job="steadylog"}) or vector(0)`
	exportErrorsExpr = `sum(steadylog_processor_export_duration_seconds_count{job="steadylog",error_type!=""}) or vector(0)`
)

// promScalar runs a query whose result is one sample and returns its value.
func promScalar(ctx context.Context, prom *harness.PromAPI, expr string) (float64, error) {
	s, err := prom.Query(ctx, expr)
	if err != nil {
		return 0, err
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("%s: %d samples, want 1: %v", expr, len(s), s)
	}
	return s[0].Value, nil
}

// waitOutageVisible polls Prometheus until deadline for what a collector
// outage must show in loadgen's own metrics while it lasts: loadgen
// scraped (up), its breaker open, drops or the queue above their values
// before the outage, and failed exports above theirs. It returns what it
// saw.
func waitOutageVisible(ctx context.Context, prom *harness.PromAPI, deadline time.Time, before outageBaseline) (string, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var (
		sawOpen                 bool
		maxDrops, maxQ, maxErrs float64
	)
	err := harness.Poll(ctx, 500*time.Millisecond, func() (bool, error) {
		up, err := promScalar(ctx, prom, `up{job="steadylog"}`)
		if err != nil {
			return false, err
		}
		if up != 1 {
			return false, fmt.Errorf("loadgen's endpoint is not up in Prometheus: %v", up)
		}
		if open, err := promScalar(ctx, prom, openExpr); err == nil && open == 1 {
			sawOpen = true
		}
		for _, q := range []struct {
			expr string
			max  *float64
		}{{dropsExpr, &maxDrops}, {queueExpr, &maxQ}, {exportErrorsExpr, &maxErrs}} {
			v, err := promScalar(ctx, prom, q.expr)
			if err != nil {
				return false, err
			}
			*q.max = max(*q.max, v)
		}
		rising := maxDrops > before.drops || maxQ > before.queue
		if sawOpen && rising && maxErrs > before.errors {
			return true, nil
		}
		return false, fmt.Errorf("breaker open seen %v, drops %v (before %v), queue up to %v (before %v), failed exports %v (before %v)",
			sawOpen, maxDrops, before.drops, maxQ, before.queue, maxErrs, before.errors)
	})
	return fmt.Sprintf("breaker open, drops %v (before %v), queue up to %v (before %v), failed exports %v (before %v)",
		maxDrops, before.drops, maxQ, before.queue, maxErrs, before.errors), err
}

// outageBaseline is what waitOutageVisible compares with: the drops, the
// queue and the failed exports Prometheus showed before the outage.
type outageBaseline struct{ drops, queue, errors float64 }
