package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/integration/harness"
)

// repoRoot is the repository root, found from this file's location so the
// tests work from any working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Dir(filepath.Dir(file))
}

// TestComposeFileParses validates docker-compose.yaml with Debian's
// docker-compose 1.29 (v1 schema), offline: no Docker engine is needed.
func TestComposeFileParses(t *testing.T) {
	compose := dockerCompose(t)
	root := repoRoot(t)
	cmd := exec.Command(compose, "-f", filepath.Join(root, "docker-compose.yaml"), "config", "-q")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "docker-compose config -q:\n%s", out)
}

// TestCollectorConfigValidates checks deploy/otelcol/config.yaml with the test
// collector distribution, which has the components the demo's contrib image uses.
func TestCollectorConfigValidates(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	cfg := filepath.Join(repoRoot(t), "deploy", "otelcol", "config.yaml")
	out, err := exec.Command(otelcol, "validate", "--config", cfg).CombinedOutput()
	require.NoError(t, err, "otelcol validate:\n%s", out)
}

// TestCollectorValidateRejectsUnknownComponent shows that the validation above
// can fail: a config naming a component the distribution lacks is rejected.
func TestCollectorValidateRejectsUnknownComponent(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "otelcol", "config.yaml"))
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, append(src, []byte("\nconnectors:\n  no_such_connector: {}\n")...), 0o644))
	out, err := exec.Command(otelcol, "validate", "--config", bad).CombinedOutput()
	require.Error(t, err, "validate accepted an unknown component:\n%s", out)
	require.Contains(t, string(out), "no_such_connector")
}

// TestPrometheusConfigChecks runs promtool check config on
// deploy/prometheus/prometheus.yml.
func TestPrometheusConfigChecks(t *testing.T) {
	promtool := harness.PromtoolBin(t)
	cfg := filepath.Join(repoRoot(t), "deploy", "prometheus", "prometheus.yml")
	out, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput()
	require.NoError(t, err, "promtool check config:\n%s", out)
}

// TestGrafanaDashboardIsJSON guards the provisioned dashboard against edits
// that break its JSON (Grafana would silently skip it).
func TestGrafanaDashboardIsJSON(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "dashboards", "steadylog.json"))
	require.NoError(t, err)
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.Equal(t, "steadylog", dash.UID)
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr)
		}
	}
	for _, f := range []string{
		"deploy/grafana/provisioning/datasources/prometheus.yaml",
		"deploy/grafana/provisioning/dashboards/steadylog.yaml",
	} {
		_, err := os.Stat(filepath.Join(root, f))
		require.NoError(t, err)
	}
}

// dockerCompose returns the docker-compose binary, installing Debian's package
// (as scripts/install-prometheus.sh installs prometheus) when it is missing and
// the test runs as root; otherwise the test is skipped, or fails under
// STEADYLOG_REQUIRE_INTEGRATION=1.
func dockerCompose(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		harness.Missing(t, "docker-compose is not installed (apt-get install docker-compose)")
		return ""
	}
	t.Log("installing docker-compose with apt-get")
	for _, args := range [][]string{
		{"update", "-qq"},
		{"install", "-y", "-qq", "--no-install-recommends", "docker-compose"},
	} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			harness.Missing(t, "installing docker-compose failed: "+err.Error()+"\n"+string(out))
			return ""
		}
	}
	p, err := exec.LookPath("docker-compose")
	require.NoError(t, err, "docker-compose installed but not on PATH")
	return p
}
