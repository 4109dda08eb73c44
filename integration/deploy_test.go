package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

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
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.Equal(t, "steadylog", dash.UID)
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue // a row's title only: its panels follow it
		}
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

// composeFile is the part of docker-compose.yaml the checks below read.
type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Ports       []yaml.Node       `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

func readYAML(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), "parsing %s", rel)
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "docker-compose.yaml", &c)
	require.NotEmpty(t, c.Services, "docker-compose.yaml has no services")
	return c
}

// pinnedTagError says why ref (an image reference) is not pinned, or returns
// nil: it needs a digest, or a tag other than "latest".
func pinnedTagError(ref string) error {
	if strings.Contains(ref, "@sha256:") {
		return nil
	}
	name := ref
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:] // a registry host may have a :port
	}
	i := strings.LastIndex(name, ":")
	if i < 0 {
		return fmt.Errorf("image %q has no tag (means latest)", ref)
	}
	if tag := name[i+1:]; tag == "" || tag == "latest" {
		return fmt.Errorf("image %q is not pinned", ref)
	}
	return nil
}

func TestPinnedTagError(t *testing.T) {
	for ref, ok := range map[string]bool{
		"otel/opentelemetry-collector-contrib:0.155.0": true,
		"golang:1.26.8-bookworm":                       true,
		"localhost:5000/app:1.2":                       true,
		"busybox@sha256:0123":                          true,
		"grafana/grafana":                              false,
		"grafana/grafana:latest":                       false,
		"localhost:5000/app":                           false,
	} {
		require.Equal(t, ok, pinnedTagError(ref) == nil, ref)
	}
}

// versionTag is a release version: 0.155.0, v2.55.1, 1.26.8-bookworm.
var versionTag = regexp.MustCompile(`:v?[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.-]+)?$`)

// TestComposeImagesPinned checks that every image the demo pulls, in
// docker-compose.yaml and in the Dockerfiles it builds, has a pinned tag:
// no "latest", no missing tag; the compose images and the Go build image carry
// a full release version.
func TestComposeImagesPinned(t *testing.T) {
	root := repoRoot(t)
	for name, svc := range readCompose(t).Services {
		if svc.Build == nil {
			require.NotEmpty(t, svc.Image, "service %s has neither image nor build", name)
		}
		if svc.Image != "" && svc.Build == nil {
			require.NoError(t, pinnedTagError(svc.Image), "service %s", name)
			require.Regexp(t, versionTag, svc.Image, "service %s: image tag is not a release version", name)
		}
		if svc.Build == nil {
			continue
		}
		dockerfile := svc.Build.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		path := filepath.Join(root, svc.Build.Context, dockerfile)
		froms := dockerfileFroms(t, path)
		require.NotEmpty(t, froms, "%s has no FROM", path)
		for _, ref := range froms {
			require.NoError(t, pinnedTagError(ref), "service %s, %s", name, path)
			if strings.HasPrefix(ref, "golang:") {
				require.Regexp(t, versionTag, ref, "service %s, %s: pin the Go toolchain to a release", name, path)
			}
		}
	}
}

// dockerfileFroms returns the images a Dockerfile's FROM lines pull: not
// scratch, not earlier build stages.
func dockerfileFroms(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	stages := map[string]bool{"scratch": true}
	var refs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		f = f[1:]
		for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
			f = f[1:]
		}
		require.NotEmpty(t, f, "%s: FROM without an image", path)
		require.NotContains(t, f[0], "$", "%s: FROM %s: a build argument hides the tag", path, f[0])
		if !stages[strings.ToLower(f[0])] {
			refs = append(refs, f[0])
		}
		if len(f) >= 3 && strings.EqualFold(f[1], "AS") {
			stages[strings.ToLower(f[2])] = true
		}
	}
	require.NoError(t, sc.Err())
	return refs
}

// TestComposePortsBoundToLoopback checks that every published port is bound
// to 127.0.0.1: Grafana allows anonymous access and nothing in the demo has
// authentication, so it must not be reachable from the network.
func TestComposePortsBoundToLoopback(t *testing.T) {
	published := 0
	for name, svc := range readCompose(t).Services {
		for _, p := range svc.Ports {
			published++
			switch p.Kind {
			case yaml.ScalarNode:
				// Short syntax: "127.0.0.1:3000:3000" (a bare "3000:3000" or
				// "3000" binds every interface).
				require.True(t, strings.HasPrefix(p.Value, "127.0.0.1:"),
					"service %s publishes %q on every interface; write \"127.0.0.1:%s\"", name, p.Value, p.Value)
			case yaml.MappingNode:
				var long struct {
					HostIP string `yaml:"host_ip"`
				}
				require.NoError(t, p.Decode(&long))
				require.Equal(t, "127.0.0.1", long.HostIP, "service %s: port at line %d needs host_ip: 127.0.0.1", name, p.Line)
			default:
				t.Fatalf("service %s: unexpected port entry at line %d", name, p.Line)
			}
		}
	}
	require.Positive(t, published, "the demo publishes no ports")
}

// TestCollectorConfigHasNoFileExporter guards the demo against a collector
// that exits at start: the contrib image is FROM scratch and runs as uid
// 10001, with no /tmp or other writable directory for a file exporter. The
// dashboards' data path (OTLP metrics → prometheus exporter) and the debug
// log sink must stay in the pipelines.
func TestCollectorConfigHasNoFileExporter(t *testing.T) {
	var cfg struct {
		Exporters map[string]any `yaml:"exporters"`
		Service   struct {
			Pipelines map[string]struct {
				Receivers []string `yaml:"receivers"`
				Exporters []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	readYAML(t, "deploy/otelcol/config.yaml", &cfg)
	for id := range cfg.Exporters {
		typ, _, _ := strings.Cut(id, "/")
		require.NotEqual(t, "file", typ, "exporter %s writes to the image's read-only, non-existent filesystem", id)
	}
	require.Contains(t, cfg.Service.Pipelines["metrics"].Receivers, "otlp")
	require.Contains(t, cfg.Service.Pipelines["metrics"].Exporters, "prometheus")
	require.Contains(t, cfg.Service.Pipelines["logs"].Receivers, "otlp")
	require.Contains(t, cfg.Service.Pipelines["logs"].Exporters, "debug")
}

// grafanaDashboard is the part of a dashboard JSON Grafana's schema requires
// and the checks below read.
type grafanaDashboard struct {
	Title         *string        `json:"title"`
	UID           *string        `json:"uid"`
	SchemaVersion *int           `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID         *int               `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	Targets    []struct {
		RefID      string             `json:"refId"`
		Expr       string             `json:"expr"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboards(t *testing.T) map[string]grafanaDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards in deploy/grafana/dashboards")
	out := map[string]grafanaDashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d grafanaDashboard
		require.NoError(t, json.Unmarshal(b, &d), "%s is not valid JSON", f)
		out[filepath.Base(f)] = d
	}
	return out
}

// eachPanel calls fn for every panel, rows' nested panels included.
func eachPanel(panels []grafanaPanel, fn func(grafanaPanel)) {
	for _, p := range panels {
		fn(p)
		eachPanel(p.Panels, fn)
	}
}

// TestGrafanaDashboardSchema checks the fields Grafana's dashboard schema
// requires: title, uid, schemaVersion, and panels with a unique id, a type
// and (except rows) targets with a refId and a query.
func TestGrafanaDashboardSchema(t *testing.T) {
	for file, d := range readDashboards(t) {
		require.NotNil(t, d.Title, "%s: no title", file)
		require.NotEmpty(t, *d.Title, "%s: empty title", file)
		require.NotNil(t, d.UID, "%s: no uid", file)
		require.Regexp(t, `^[A-Za-z0-9_-]{1,40}$`, *d.UID, "%s: uid", file)
		require.NotNil(t, d.SchemaVersion, "%s: no schemaVersion", file)
		require.Positive(t, *d.SchemaVersion, "%s: schemaVersion", file)
		require.NotEmpty(t, d.Panels, "%s: no panels", file)
		ids := map[int]string{}
		eachPanel(d.Panels, func(p grafanaPanel) {
			require.NotNil(t, p.ID, "%s: panel %q has no id", file, p.Title)
			require.Positive(t, *p.ID, "%s: panel %q id", file, p.Title)
			prev, dup := ids[*p.ID]
			require.False(t, dup, "%s: panels %q and %q share id %d", file, prev, p.Title, *p.ID)
			ids[*p.ID] = p.Title
			require.NotEmpty(t, p.Type, "%s: panel %d has no type", file, *p.ID)
			if p.Type == "row" {
				return
			}
			require.NotEmpty(t, p.Title, "%s: panel %d has no title", file, *p.ID)
			require.NotEmpty(t, p.Targets, "%s: panel %d (%s) has no targets", file, *p.ID, p.Title)
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.RefID, "%s: panel %d (%s): target without refId", file, *p.ID, p.Title)
				require.False(t, refs[tg.RefID], "%s: panel %d (%s): refId %s repeated", file, *p.ID, p.Title, tg.RefID)
				refs[tg.RefID] = true
				require.NotEmpty(t, tg.Expr, "%s: panel %d (%s): target %s has no expr", file, *p.ID, p.Title, tg.RefID)
			}
		})
	}
}

// TestGrafanaDashboardDatasourceUID checks that every panel and target names
// the datasource provisioned in deploy/grafana/provisioning/datasources by
// its uid: a dashboard naming another uid shows "datasource not found"
// panels. It also checks that the dashboard provider's path is where
// docker-compose.yaml mounts deploy/grafana/dashboards.
func TestGrafanaDashboardDatasourceUID(t *testing.T) {
	var ds struct {
		Datasources []struct {
			Name string `yaml:"name"`
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	readYAML(t, "deploy/grafana/provisioning/datasources/prometheus.yaml", &ds)
	require.Len(t, ds.Datasources, 1)
	want := grafanaDatasource{Type: ds.Datasources[0].Type, UID: ds.Datasources[0].UID}
	require.NotEmpty(t, want.UID, "the provisioned datasource has no uid")
	require.Equal(t, "prometheus", want.Type)

	for file, d := range readDashboards(t) {
		eachPanel(d.Panels, func(p grafanaPanel) {
			if p.Type == "row" && p.Datasource == nil {
				return
			}
			require.NotNil(t, p.Datasource, "%s: panel %q has no datasource", file, p.Title)
			require.Equal(t, want, *p.Datasource, "%s: panel %q datasource", file, p.Title)
			for _, tg := range p.Targets {
				require.NotNil(t, tg.Datasource, "%s: panel %q target %s has no datasource", file, p.Title, tg.RefID)
				require.Equal(t, want, *tg.Datasource, "%s: panel %q target %s datasource", file, p.Title, tg.RefID)
			}
		})
	}

	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "deploy/grafana/provisioning/dashboards/steadylog.yaml", &prov)
	require.Len(t, prov.Providers, 1)
	grafana, ok := readCompose(t).Services["grafana"]
	require.True(t, ok, "docker-compose.yaml has no grafana service")
	require.Contains(t, grafana.Volumes, "./deploy/grafana/dashboards:"+prov.Providers[0].Options.Path+":ro",
		"the dashboard provider reads %s; mount deploy/grafana/dashboards there", prov.Providers[0].Options.Path)
	if home := grafana.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		rel, err := filepath.Rel(prov.Providers[0].Options.Path, home)
		require.NoError(t, err)
		_, err = os.Stat(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", rel))
		require.NoError(t, err, "the home dashboard %s is not in deploy/grafana/dashboards", home)
	}
}
