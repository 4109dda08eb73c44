package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ScrapeTarget is one Prometheus scrape job.
type ScrapeTarget struct {
	Job  string // job label
	Addr string // host:port serving /metrics
}

// Prometheus is a running Prometheus server with generated configuration and
// storage in t.TempDir().
type Prometheus struct {
	// Addr is the host:port of the web UI and HTTP API.
	Addr string
	// ConfigPath is the generated prometheus.yml.
	ConfigPath string
	// API queries this server.
	API *PromAPI

	proc *Process
}

// PrometheusScrapeInterval is the scrape (and evaluation) interval of the
// generated configuration: short, so tests see new samples within a second or two.
const PrometheusScrapeInterval = time.Second

// StartPrometheus starts Prometheus on 127.0.0.1 at a free port, scraping targets
// every PrometheusScrapeInterval, and waits until /-/ready answers. It is stopped
// when the test ends. Any failure fails the test.
func StartPrometheus(t testing.TB, bin string, targets ...ScrapeTarget) *Prometheus {
	t.Helper()
	if len(targets) == 0 {
		t.Fatal("harness: StartPrometheus needs at least one scrape target")
	}
	dir := t.TempDir()
	p := &Prometheus{
		Addr:       loopback(FreePorts(t, 1)[0]),
		ConfigPath: filepath.Join(dir, "prometheus.yml"),
	}
	p.API = &PromAPI{BaseURL: "http://" + p.Addr}
	if err := os.WriteFile(p.ConfigPath, []byte(prometheusConfig(targets)), 0o644); err != nil {
		t.Fatalf("harness: writing prometheus config: %v", err)
	}
	storage := filepath.Join(dir, "data")
	proc, err := StartProcess(t, "prometheus", filepath.Join(dir, "prometheus.log"), bin,
		"--config.file="+p.ConfigPath,
		"--storage.tsdb.path="+storage,
		"--web.listen-address="+p.Addr,
		"--log.level=warn",
	)
	if err != nil {
		t.Fatal(err)
	}
	p.proc = proc
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	err = Poll(ctx, pollInterval, func() (bool, error) {
		if proc.Exited() {
			return false, fmt.Errorf("prometheus exited: %v", proc.ExitErr())
		}
		resp, err := client.Get(p.API.BaseURL + "/-/ready")
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("/-/ready: %s", resp.Status)
	})
	if err != nil {
		_ = proc.Kill()
		t.Fatalf("harness: prometheus not ready: %v\n--- prometheus log ---\n%s", err, proc.LogTail(30))
	}
	return p
}

// Process returns the Prometheus process.
func (p *Prometheus) Process() *Process { return p.proc }

func prometheusConfig(targets []ScrapeTarget) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n",
		PrometheusScrapeInterval, PrometheusScrapeInterval, PrometheusScrapeInterval*9/10)
	for _, tg := range targets {
		fmt.Fprintf(&b, "  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", tg.Job, tg.Addr)
	}
	return b.String()
}
