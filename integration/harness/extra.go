package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CountAtLeast returns how many distinct sequence numbers ≥ min the file
// holds: the records emitted after some moment (a SIGCONT, a restart) that
// have arrived.
func (fc FileCount) CountAtLeast(min int64) int {
	n := 0
	for s := range fc.Seqs {
		if s >= min {
			n++
		}
	}
	return n
}

// WaitForSeqsFrom polls the collector's output until it holds at least n
// distinct sequence numbers ≥ min under seqKey, or ctx ends.
func (c *Collector) WaitForSeqsFrom(ctx context.Context, seqKey string, min int64, n int) (FileCount, error) {
	var fc FileCount
	err := Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		var err error
		fc, err = c.Count(seqKey)
		return err == nil && fc.CountAtLeast(min) >= n, err
	})
	if err != nil {
		return fc, fmt.Errorf("harness: waiting for %d records with %s ≥ %d in %s (have %d): %w",
			n, seqKey, min, c.FilePath, fc.CountAtLeast(min), err)
	}
	return fc, nil
}

// BuildGo builds the Go package pkg (an import path or a ./relative path,
// resolved in dir) into t.TempDir() and returns the binary's path. A build
// failure fails the test with the compiler's output.
func BuildGo(t testing.TB, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("harness: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// ErrLineNotFound is wrapped by WaitForLine when ctx ends before the line
// appears.
var ErrLineNotFound = errors.New("harness: line not found")

// WaitForLine polls the file at path (a process log written by StartProcess)
// until a line starting with prefix appears, and returns that line without its
// newline. It returns early with an error when done is closed (the process
// exited) and the line is still absent, so that a crashed child fails fast
// instead of at the deadline.
func WaitForLine(ctx context.Context, path, prefix string, done <-chan struct{}) (string, error) {
	var line string
	find := func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64*1024), 4<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				line = sc.Text()
				return true
			}
		}
		return false
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if find() {
			return line, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %q in %s: %w\n%s", ErrLineNotFound, prefix, path, ctx.Err(), fileTail(path, 20))
		case <-done:
			if find() {
				return line, nil
			}
			return "", fmt.Errorf("%w: %q in %s: the process exited\n%s", ErrLineNotFound, prefix, path, fileTail(path, 20))
		case <-ticker.C:
		}
	}
}

// GrafanaExpr substitutes Grafana's built-in interval variables in a
// dashboard query so that Prometheus can evaluate it: $__rate_interval,
// $__interval and $__range (with or without braces) become interval, and
// the _ms/_s variants become its value in those units.
func GrafanaExpr(expr string, interval time.Duration) string {
	d := shortDuration(interval)
	r := strings.NewReplacer(
		"${__rate_interval}", d, "$__rate_interval", d,
		"${__interval_ms}", fmt.Sprint(interval.Milliseconds()), "$__interval_ms", fmt.Sprint(interval.Milliseconds()),
		"${__interval}", d, "$__interval", d,
		"${__range_ms}", fmt.Sprint(interval.Milliseconds()), "$__range_ms", fmt.Sprint(interval.Milliseconds()),
		"${__range_s}", fmt.Sprint(int64(interval.Seconds())), "$__range_s", fmt.Sprint(int64(interval.Seconds())),
		"${__range}", d, "$__range", d,
	)
	return r.Replace(expr)
}

// shortDuration renders d in Prometheus' duration syntax (whole seconds or
// milliseconds): "1m0s" is not valid PromQL, "60s" is.
func shortDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
