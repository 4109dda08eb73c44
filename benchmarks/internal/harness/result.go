package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"
)

// Env describes where a measurement ran, so a summary can say so.
type Env struct {
	GoVersion  string    `json:"go_version"`
	GOOS       string    `json:"goos"`
	GOARCH     string    `json:"goarch"`
	NumCPU     int       `json:"num_cpu"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Started    time.Time `json:"started"`
}

// CurrentEnv describes the running process.
func CurrentEnv() Env {
	return Env{
		GoVersion:  runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Started:    time.Now().UTC(),
	}
}

// Sustained is one row of the sustained-throughput program: one processor,
// one number of goroutines.
type Sustained struct {
	Impl       string  `json:"impl"`
	Goroutines int     `json:"goroutines"`
	Path       string  `json:"path"` // "emit" (Logger.Emit) or "onemit"
	Seconds    float64 `json:"seconds"`
	// Emitted counts records handed to the logger during the window.
	Emitted uint64 `json:"emitted"`
	// ExportedInWindow counts records the exporter had received when the
	// window closed; ExportedTotal also counts what Shutdown drained.
	ExportedInWindow uint64 `json:"exported_in_window"`
	ExportedTotal    uint64 `json:"exported_total"`
	// Dropped is the drop count used for DropPct, from DropSource:
	// "stats" (the processor's own count) or "emitted-exported".
	Dropped    uint64            `json:"dropped"`
	DropSource string            `json:"drop_source"`
	DropReason map[string]uint64 `json:"drop_reason,omitempty"`
	// Unaccounted is emitted − exported − dropped; nonzero only if a
	// processor's own count disagrees with what the exporter saw.
	Unaccounted     int64   `json:"unaccounted"`
	EmittedPerSec   float64 `json:"emitted_per_sec"`
	ExportedPerSec  float64 `json:"exported_per_sec"`
	DropPct         float64 `json:"drop_pct"`
	ShutdownSeconds float64 `json:"shutdown_seconds"`
	ShutdownErr     string  `json:"shutdown_err,omitempty"`
}

// Memory is the result of one child process of the memory program.
type Memory struct {
	Impl          string  `json:"impl"`
	BodyBytes     int     `json:"body_bytes"`
	ExportDelayMS float64 `json:"export_delay_ms"`
	Seconds       float64 `json:"seconds"`
	Producers     int     `json:"producers"`
	MaxQueueBytes int64   `json:"max_queue_bytes,omitempty"`
	// MemLimitBytes is the child's soft memory limit (GOMEMLIMIT) as the
	// runtime reported it; 0 when none was set.
	MemLimitBytes int64   `json:"mem_limit_bytes,omitempty"`
	PeakRSSBytes  int64   `json:"peak_rss_bytes"`
	Emitted       uint64  `json:"emitted"`
	Exported      uint64  `json:"exported"`
	DropPct       float64 `json:"drop_pct"`
	// Dropped and DropReason are the processor's own drop count, total and
	// by reason (steadylog only; see CountsDrops).
	CountsDrops bool              `json:"counts_drops,omitempty"`
	Dropped     uint64            `json:"dropped,omitempty"`
	DropReason  map[string]uint64 `json:"drop_reason,omitempty"`
	// Aborted is set when the child stopped early because its resident set
	// passed the safety limit; PeakRSSBytes is then a lower bound.
	Aborted     bool   `json:"aborted,omitempty"`
	AbortReason string `json:"abort_reason,omitempty"`
	Err         string `json:"err,omitempty"`
}

// Hung is the result of the hung-exporter program for one processor.
type Hung struct {
	Impl       string  `json:"impl"`
	Goroutines int     `json:"goroutines"`
	Rate       float64 `json:"rate"` // target records/s over all goroutines
	Seconds    float64 `json:"seconds"`
	HoldMS     float64 `json:"hold_ms"`
	Emitted    uint64  `json:"emitted"`
	Exported   uint64  `json:"exported"`
	LostPct    float64 `json:"lost_pct"`
	P50NS      float64 `json:"p50_ns"`
	P99NS      float64 `json:"p99_ns"`
	P999NS     float64 `json:"p999_ns"`
	MaxNS      float64 `json:"max_ns"`
	MeanNS     float64 `json:"mean_ns"`
	// ShutdownSeconds is how long Shutdown took with the program's
	// deadline while the exporter was still hung.
	ShutdownSeconds float64 `json:"shutdown_seconds"`
	ShutdownErr     string  `json:"shutdown_err,omitempty"`
	// Dropped is the processor's own drop count (steadylog only).
	Dropped     uint64 `json:"dropped,omitempty"`
	CountsDrops bool   `json:"counts_drops"`
}

// Report is what each program writes with -json: its environment and its
// rows. T is Sustained, Memory or Hung.
type Report[T any] struct {
	Program string `json:"program"`
	Env     Env    `json:"env"`
	Results []T    `json:"results"`
}

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("harness: encoding %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	return nil
}

// ReadJSON reads a JSON document written by WriteJSON into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("harness: decoding %s: %w", path, err)
	}
	return nil
}

// Pct returns 100·part/whole, or 0 when whole is 0.
func Pct(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
