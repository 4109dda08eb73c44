package harness

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Environment variables read by the harness.
const (
	// EnvOtelcolBin names the collector binary (scripts/build-otelcol.sh).
	EnvOtelcolBin = "STEADYLOG_OTELCOL_BIN"
	// EnvPrometheusBin names the Prometheus binary (scripts/install-prometheus.sh).
	EnvPrometheusBin = "STEADYLOG_PROMETHEUS_BIN"
	// EnvRequireIntegration, when "1", turns a missing binary into a test failure
	// instead of a skip. CI sets it so that skipped end-to-end tests cannot pass
	// unnoticed.
	EnvRequireIntegration = "STEADYLOG_REQUIRE_INTEGRATION"
)

const howToRun = "run the end-to-end tests with scripts/test, or: " +
	"STEADYLOG_OTELCOL_BIN=$(scripts/build-otelcol.sh | tail -1) " +
	"STEADYLOG_PROMETHEUS_BIN=$(scripts/install-prometheus.sh | tail -1) " +
	"go test -race ./integration/..."

// OtelcolBin returns the collector binary named by STEADYLOG_OTELCOL_BIN, or skips
// (fails, under STEADYLOG_REQUIRE_INTEGRATION=1) the test when it is not set.
func OtelcolBin(t testing.TB) string {
	t.Helper()
	return binFromEnv(t, EnvOtelcolBin)
}

// PrometheusBin returns the Prometheus binary named by STEADYLOG_PROMETHEUS_BIN, or
// skips (fails, under STEADYLOG_REQUIRE_INTEGRATION=1) the test when it is not set.
func PrometheusBin(t testing.TB) string {
	t.Helper()
	return binFromEnv(t, EnvPrometheusBin)
}

// PromtoolBin returns the promtool that ships next to the Prometheus binary (as in
// Debian's package and the upstream tarball), falling back to PATH.
func PromtoolBin(t testing.TB) string {
	t.Helper()
	prom := PrometheusBin(t)
	candidate := siblingPath(prom, "promtool")
	if isExecutable(candidate) {
		return candidate
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	Missing(t, fmt.Sprintf("promtool not found next to %s nor on PATH", prom))
	return ""
}

// RequireIntegration reports whether STEADYLOG_REQUIRE_INTEGRATION=1.
func RequireIntegration() bool { return os.Getenv(EnvRequireIntegration) == "1" }

func binFromEnv(t testing.TB, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		Missing(t, env+" is not set")
		return ""
	}
	if !isExecutable(path) {
		// A path that is set but wrong is always an error: someone meant to run
		// the end-to-end tests and would otherwise get a silent skip.
		t.Fatalf("%s=%q is not an executable file; %s", env, path, howToRun)
	}
	return path
}

// Missing skips the test, or fails it under STEADYLOG_REQUIRE_INTEGRATION=1.
func Missing(t testing.TB, why string) {
	t.Helper()
	if RequireIntegration() {
		t.Fatalf("%s and %s=1: %s", why, EnvRequireIntegration, howToRun)
	}
	t.Skipf("%s; %s", why, howToRun)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
