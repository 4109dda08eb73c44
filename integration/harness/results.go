package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// EnvResultsDir, when set, names a directory where the tests that measure
// something (a replay time, a peak of memory) write their figures as JSON,
// one file each, for a benchmark report to collect. Unset, they only log
// them.
const EnvResultsDir = "STEADYLOG_RESULTS_DIR"

// WriteResults writes v as indented JSON to the file name in the
// directory named by STEADYLOG_RESULTS_DIR (created if missing), and
// returns its path; it does nothing and returns "" when the variable is
// not set. A failure to write fails the test.
func WriteResults(t testing.TB, name string, v any) string {
	t.Helper()
	dir := os.Getenv(EnvResultsDir)
	if dir == "" {
		return ""
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("harness: encoding results %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: results directory: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatalf("harness: writing results: %v", err)
	}
	return path
}
