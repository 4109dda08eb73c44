package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultStartTimeout bounds how long a start waits for readiness. The collector
// is ready in well under a second; the margin is for a loaded 2-core machine.
const DefaultStartTimeout = 30 * time.Second

// Collector is a running OpenTelemetry Collector (the distribution in
// integration/otelcol) with a generated configuration:
//
//   - OTLP receiver on GRPCAddr and HTTPAddr;
//   - logs pipeline → file exporter "file/logs" writing JSON lines to FilePath
//     with append: true, so records written before a restart survive it;
//   - metrics pipeline → Prometheus exporter on PromExporterAddr;
//   - internal telemetry (otelcol_* metrics, level detailed) on a pull Prometheus
//     reader at TelemetryAddr.
//
// Addresses stay the same across Restart, as a real collector's would.
type Collector struct {
	t   testing.TB
	bin string
	cfg collectorConfig

	// Dir holds the config, the file exporter output and the process log.
	Dir string
	// ConfigPath is the generated collector configuration.
	ConfigPath string
	// FilePath is the file exporter's JSON-lines output.
	FilePath string
	// LogPath collects the collector's stdout/stderr across restarts.
	LogPath string

	GRPCAddr         string // OTLP/gRPC, host:port
	HTTPAddr         string // OTLP/HTTP, host:port
	PromExporterAddr string // Prometheus exporter (metrics sent over OTLP), host:port
	TelemetryAddr    string // the collector's own metrics, host:port

	mu   sync.Mutex
	proc *Process
}

// CollectorOption configures StartCollector.
type CollectorOption interface{ apply(*collectorConfig) }

type collectorOptionFunc func(*collectorConfig)

func (f collectorOptionFunc) apply(c *collectorConfig) { f(c) }

type collectorConfig struct {
	batch         bool
	memoryLimitMi int
	debug         bool
	flushInterval time.Duration
	startTimeout  time.Duration
}

// WithCollectorBatch puts the batch processor in the logs pipeline. Default off:
// without it the OTLP response is sent only after the file write, so a SIGKILL
// loses nothing the client was told had arrived; with it, the collector
// acknowledges records it may still lose (as production collectors do).
func WithCollectorBatch() CollectorOption {
	return collectorOptionFunc(func(c *collectorConfig) { c.batch = true })
}

// WithCollectorMemoryLimit puts the memory_limiter processor (limit in MiB, checked
// every 100 ms) first in the logs pipeline. Default: none.
func WithCollectorMemoryLimit(mib int) CollectorOption {
	return collectorOptionFunc(func(c *collectorConfig) { c.memoryLimitMi = mib })
}

// WithCollectorDebug adds the debug exporter (basic verbosity) to the logs
// pipeline, printing a line per batch to the collector log. Default off.
func WithCollectorDebug() CollectorOption {
	return collectorOptionFunc(func(c *collectorConfig) { c.debug = true })
}

// WithFileFlushInterval sets the file exporter's flush_interval. Default 100 ms:
// the exporter writes through a 4 KiB buffer, and a short interval keeps what a
// SIGKILL can strand in it small.
func WithFileFlushInterval(d time.Duration) CollectorOption {
	return collectorOptionFunc(func(c *collectorConfig) { c.flushInterval = d })
}

// WithCollectorStartTimeout bounds each wait for readiness. Default
// DefaultStartTimeout.
func WithCollectorStartTimeout(d time.Duration) CollectorOption {
	return collectorOptionFunc(func(c *collectorConfig) { c.startTimeout = d })
}

// StartCollector writes a configuration with fresh free ports into t.TempDir(),
// starts bin and waits until it is ready. The process is stopped when the test
// ends. Any failure to start fails the test.
func StartCollector(t testing.TB, bin string, opts ...CollectorOption) *Collector {
	t.Helper()
	c, err := NewCollector(t, bin, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// NewCollector prepares a collector (config, ports, directory) without starting it.
func NewCollector(t testing.TB, bin string, opts ...CollectorOption) (*Collector, error) {
	t.Helper()
	cfg := collectorConfig{flushInterval: 100 * time.Millisecond, startTimeout: DefaultStartTimeout}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.flushInterval <= 0 {
		return nil, errors.New("harness: file flush interval must be positive")
	}
	if cfg.memoryLimitMi < 0 {
		return nil, errors.New("harness: memory limit must not be negative")
	}
	dir := t.TempDir()
	ports := FreePorts(t, 4)
	c := &Collector{
		t:                t,
		bin:              bin,
		cfg:              cfg,
		Dir:              dir,
		ConfigPath:       filepath.Join(dir, "otelcol.yaml"),
		FilePath:         filepath.Join(dir, "logs.jsonl"),
		LogPath:          filepath.Join(dir, "otelcol.log"),
		GRPCAddr:         loopback(ports[0]),
		HTTPAddr:         loopback(ports[1]),
		PromExporterAddr: loopback(ports[2]),
		TelemetryAddr:    loopback(ports[3]),
	}
	if err := os.WriteFile(c.ConfigPath, []byte(c.config(ports[3])), 0o644); err != nil {
		return nil, fmt.Errorf("harness: writing collector config: %w", err)
	}
	return c, nil
}

// config renders the collector configuration. JSON-style quoting keeps paths
// with odd characters valid YAML.
func (c *Collector) config(telemetryPort int) string {
	var procs []string
	if c.cfg.memoryLimitMi > 0 {
		procs = append(procs, "memory_limiter")
	}
	if c.cfg.batch {
		procs = append(procs, "batch")
	}
	logExporters := []string{"file/logs"}
	if c.cfg.debug {
		logExporters = append(logExporters, "debug")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q
      http:
        endpoint: %q
processors:
  batch: {}
  memory_limiter:
    check_interval: 100ms
    limit_mib: %d
exporters:
  file/logs:
    path: %q
    append: true
    format: json
    flush_interval: %s
  prometheus:
    endpoint: %q
  debug:
    verbosity: basic
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: "127.0.0.1"
                port: %d
  pipelines:
    logs:
      receivers: [otlp]
      processors: [%s]
      exporters: [%s]
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
`, c.GRPCAddr, c.HTTPAddr, max(c.cfg.memoryLimitMi, 1), c.FilePath, c.cfg.flushInterval,
		c.PromExporterAddr, telemetryPort, strings.Join(procs, ", "), strings.Join(logExporters, ", "))
	return b.String()
}

// Start starts the collector if it is not running and waits until it is ready.
func (c *Collector) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil && !c.proc.Exited() {
		return nil
	}
	p, err := StartProcess(c.t, "otelcol", c.LogPath, c.bin, "--config", c.ConfigPath)
	if err != nil {
		return err
	}
	c.proc = p
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.startTimeout)
	defer cancel()
	if err := c.waitReady(ctx, p); err != nil {
		_ = p.Kill()
		return fmt.Errorf("harness: collector not ready: %w\n--- otelcol log ---\n%s", err, p.LogTail(30))
	}
	return nil
}

// waitReady polls until the process is alive, both OTLP ports accept connections
// and the telemetry endpoint serves metrics.
func (c *Collector) waitReady(ctx context.Context, p *Process) error {
	client := &http.Client{Timeout: time.Second}
	return Poll(ctx, pollInterval, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("collector exited: %v", p.ExitErr())
		}
		for _, addr := range []string{c.GRPCAddr, c.HTTPAddr, c.PromExporterAddr} {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return false, err
			}
			_ = conn.Close()
		}
		resp, err := client.Get("http://" + c.TelemetryAddr + "/metrics")
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("telemetry endpoint: %s", resp.Status)
		}
		return true, nil
	})
}

// Process returns the current collector process (nil before the first Start).
func (c *Collector) Process() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// Kill SIGKILLs the collector and waits until it is gone.
func (c *Collector) Kill() error { return c.current().Kill() }

// Stop freezes the collector with SIGSTOP.
func (c *Collector) Stop() error { return c.current().Stop() }

// Cont resumes a collector frozen by Stop.
func (c *Collector) Cont() error { return c.current().Cont() }

// Terminate stops the collector gracefully (SIGTERM, flushing the file exporter).
func (c *Collector) Terminate() error { return c.current().Terminate() }

// Restart SIGKILLs the collector if it is running and starts it again on the same
// addresses with the same configuration and output file.
func (c *Collector) Restart() error {
	if err := c.Kill(); err != nil {
		return err
	}
	return c.Start()
}

func (c *Collector) current() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		c.t.Fatal("harness: collector was never started")
	}
	return c.proc
}

// Count reads the file exporter output; see CountFile.
func (c *Collector) Count(seqKey string) (FileCount, error) { return CountFile(c.FilePath, seqKey) }

// Metric returns the sum of the collector's own metric name over the series whose
// labels include all of labels (see ScrapeMetric).
func (c *Collector) Metric(ctx context.Context, name string, labels map[string]string) (float64, error) {
	return ScrapeMetric(ctx, "http://"+c.TelemetryAddr+"/metrics", name, labels)
}

// SentLogRecordsMetric is the collector's counter of log records its exporters
// wrote; with the file exporter labelled exporter="file/logs".
const SentLogRecordsMetric = "otelcol_exporter_sent_log_records"

// WaitForSentLogRecords polls the collector's own counter until the file exporter
// has written at least n log records since the current process started, or ctx
// ends. The counter restarts from zero with the process: after a Restart, wait
// on the file instead (WaitForFileRecords).
func (c *Collector) WaitForSentLogRecords(ctx context.Context, n int) error {
	var got float64
	err := Poll(ctx, pollInterval, func() (bool, error) {
		v, err := c.Metric(ctx, SentLogRecordsMetric, map[string]string{"exporter": "file/logs"})
		got = v
		return err == nil && v >= float64(n), err
	})
	if err != nil {
		return fmt.Errorf("harness: waiting for %d sent log records (have %.0f): %w", n, got, err)
	}
	return nil
}

// WaitForFileRecords polls the output file until it holds at least n distinct
// sequence numbers under seqKey, or ctx ends, and returns the last count.
func (c *Collector) WaitForFileRecords(ctx context.Context, seqKey string, n int) (FileCount, error) {
	var fc FileCount
	err := Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		var err error
		fc, err = c.Count(seqKey)
		return err == nil && fc.Distinct >= n, err
	})
	if err != nil {
		return fc, fmt.Errorf("harness: waiting for %d distinct records in %s (have %d): %w", n, c.FilePath, fc.Distinct, err)
	}
	return fc, nil
}
