// Package kubernetes_test checks the example Kubernetes manifest app.yaml.
// It is a module of its own (go.mod here) so that the Kubernetes API types
// stay out of steadylog's module graph; scripts/test runs it.
package kubernetes_test

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifest holds the documents of app.yaml, each decoded strictly: an
// unknown or misspelt field anywhere fails the test.
type manifest struct {
	configMap  *corev1.ConfigMap
	deployment *appsv1.Deployment
}

func load(t *testing.T) manifest {
	t.Helper()
	raw, err := os.ReadFile("app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			m.configMap = &corev1.ConfigMap{}
			obj = m.configMap
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("document %d (%s): %v", i, tm.Kind, err)
		}
	}
	if m.configMap == nil || m.deployment == nil {
		t.Fatal("app.yaml needs the Collector's ConfigMap and the Deployment")
	}
	return m
}

func container(t *testing.T, d *appsv1.Deployment, name string) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestManifestDecodesStrictly checks the manifest's shape and that its
// parts agree: the app exports to the sidecar's OTLP/HTTP receiver over
// loopback, serves its own metrics on the port Prometheus is told to
// scrape, mounts the spool volume (an emptyDir), the Collector mounts its
// ConfigMap, and the grace period leaves room for a graceful shutdown.
func TestManifestDecodesStrictly(t *testing.T) {
	m := load(t)
	d := m.deployment
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels %v", k, v, d.Spec.Template.Labels)
		}
	}
	app, col := container(t, d, "app"), container(t, d, "otelcol")

	var cfg struct {
		Receivers struct {
			OTLP struct {
				Protocols struct {
					HTTP struct{ Endpoint string } `json:"http"`
				} `json:"protocols"`
			} `json:"otlp"`
		} `json:"receivers"`
	}
	if err := yaml.Unmarshal([]byte(m.configMap.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("the Collector config: %v", err)
	}
	u, err := url.Parse(env(app, "OTEL_EXPORTER_OTLP_ENDPOINT"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Host, cfg.Receivers.OTLP.Protocols.HTTP.Endpoint; got != want {
		t.Errorf("the app exports to %s, the sidecar's OTLP/HTTP receiver listens on %s", got, want)
	}
	if port := env(app, "OTEL_EXPORTER_PROMETHEUS_PORT"); port != d.Spec.Template.Annotations["prometheus.io/port"] {
		t.Errorf("the app serves metrics on %s, Prometheus is told %s", port, d.Spec.Template.Annotations["prometheus.io/port"])
	}
	if env(app, "OTEL_METRICS_EXPORTER") != "prometheus" {
		t.Error("the app's own metrics must not travel through the Collector: OTEL_METRICS_EXPORTER=prometheus")
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	spool, ok := volumes["spool"]
	if !ok || spool.EmptyDir == nil || spool.EmptyDir.SizeLimit == nil {
		t.Errorf("the spool volume is an emptyDir with a size limit: %+v", spool)
	}
	mounted := func(c corev1.Container, volume string) bool {
		for _, vm := range c.VolumeMounts {
			if vm.Name == volume {
				return true
			}
		}
		return false
	}
	if !mounted(app, "spool") {
		t.Error("the app mounts the spool volume")
	}
	cv, ok := volumes["otelcol-config"]
	if !ok || cv.ConfigMap == nil || cv.ConfigMap.Name != m.configMap.Name || !mounted(col, "otelcol-config") {
		t.Errorf("the Collector mounts ConfigMap %s: %+v", m.configMap.Name, cv)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g <= 25 {
		t.Errorf("terminationGracePeriodSeconds %v: more than the app's 25 s shutdown grace", g)
	}
	if !strings.Contains(strings.Join(col.Args, " "), "/etc/otelcol-contrib/config.yaml") {
		t.Errorf("the Collector's args %v do not name the mounted config", col.Args)
	}
}

// TestStrictDecodingCatchesTypos makes sure the check above can fail.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	var d appsv1.Deployment
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 3\n"), &d)
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a misspelt field decodes: %v", err)
	}
}

// TestCollectorConfigValidates runs `otelcol validate` on the sidecar's
// config with the project's Collector build (STEADYLOG_OTELCOL_BIN,
// scripts/build-otelcol.sh; the same components as the contrib image's
// used here). Skipped without it, failed under
// STEADYLOG_REQUIRE_INTEGRATION=1.
func TestCollectorConfigValidates(t *testing.T) {
	bin := os.Getenv("STEADYLOG_OTELCOL_BIN")
	if bin == "" {
		if os.Getenv("STEADYLOG_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("STEADYLOG_OTELCOL_BIN is not set (scripts/build-otelcol.sh)")
		}
		t.Skip("STEADYLOG_OTELCOL_BIN is not set (scripts/build-otelcol.sh)")
	}
	m := load(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(m.configMap.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "validate", "--config="+path).CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol validate: %v\n%s", err, out)
	}
}
