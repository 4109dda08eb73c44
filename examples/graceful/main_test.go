package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait on the child, so that a broken child fails the
// test instead of hanging it. It is not used to synchronise.
const guard = 60 * time.Second

// buildChild builds this example into a temporary directory.
func buildChild(t *testing.T) string {
	t.Helper()
	// go test puts its own GOROOT/bin first in PATH.
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "graceful")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// child is a running example process. Its stderr (status lines) is read line
// by line so that the test can wait for a given line; stdout (the exported
// records) is collected.
type child struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	lines  chan string
	all    []string
}

func startChild(t *testing.T, bin string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), lines: make(chan string, 1024)}
	c.cmd.Stdout = &c.stdout
	stderr, err := c.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil { // the test failed before the child exited
			_ = c.cmd.Process.Kill()
			for range c.lines {
			}
			_ = c.cmd.Wait()
		}
	})
	return c
}

// waitLine returns the first stderr line starting with prefix.
func (c *child) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(guard)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before printing %q; stderr:\n%s", prefix, strings.Join(c.all, "\n"))
			}
			c.all = append(c.all, line)
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q line after %v; stderr:\n%s", prefix, guard, strings.Join(c.all, "\n"))
		}
	}
}

// wait reads the rest of stderr, waits for the exit and returns the exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	timeout := time.After(guard)
	for open := true; open; {
		select {
		case line, ok := <-c.lines:
			if ok {
				c.all = append(c.all, line)
			}
			open = ok
		case <-timeout:
			t.Fatalf("child still running after %v; stderr:\n%s", guard, strings.Join(c.all, "\n"))
		}
	}
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func (c *child) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(sig))
}

func (c *child) stderr() string { return strings.Join(c.all, "\n") }

func TestChildGracefulShutdownOnSIGTERM(t *testing.T) {
	const grace = 5 * time.Second
	bin := buildChild(t)
	c := startChild(t, bin, "-addr", "127.0.0.1:0", "-grace", grace.String(), "-startup-logs", "50",
		"-export-interval", "1h", "-export-delay", "20ms")
	ready := c.waitLine(t, "ready ")
	addr := strings.TrimPrefix(strings.Fields(ready)[1], "addr=")

	resp, err := http.Get("http://" + addr + "/hello")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "ok\n", string(body))

	// The processor's accounting, served while the child runs: the 50
	// start-up records and the request's are received (and still queued,
	// with an export interval of an hour). The debug requests log nothing.
	stats := getJSON(t, "http://"+addr+"/debug/steadylog", "application/json")
	assert.Contains(t, stats, "received")
	assert.EqualValues(t, 51, stats["received"])
	assert.EqualValues(t, 0, stats["dropped_total"])
	assert.Contains(t, stats["dropped"], "queue_full", "every drop reason is present")
	vars := getJSON(t, "http://"+addr+"/debug/vars", "application/json; charset=utf-8")
	require.Contains(t, vars, "steadylog", "the processor is published in expvar")
	published, ok := vars["steadylog"].(map[string]any)
	require.True(t, ok, "steadylog is an object: %v", vars["steadylog"])
	assert.Contains(t, published, "received")
	assert.EqualValues(t, 51, published["received"])
	assert.Contains(t, vars, "memstats", "expvar's own variables are served too")

	sent := time.Now()
	c.signal(t, syscall.SIGTERM)
	code := c.wait(t)
	took := time.Since(sent)
	t.Logf("child exited %v after SIGTERM (grace %v); stderr:\n%s", took, grace, c.stderr())

	assert.Equal(t, 0, code)
	assert.Less(t, took, grace, "the child must exit within its grace period")
	out := c.stderr()
	assert.Contains(t, out, "shutting down")
	assert.Contains(t, out, "shutdown graceful (signal terminated): ok")
	// 50 start-up records and one request, all exported, none dropped.
	assert.Contains(t, out, "exported 51, dropped 0")
	records := strings.Count(c.stdout.String(), `"Body":`)
	assert.Equal(t, 51, records)
	assert.Contains(t, c.stdout.String(), `"Value":"request"`)
}

// getJSON GETs url, checks the status and Content-Type, and decodes the
// JSON object it serves.
func getJSON(t *testing.T, url, contentType string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	assert.Equal(t, contentType, resp.Header.Get("Content-Type"), url)
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), "GET %s: %s", url, body)
	return m
}

func TestChildSecondSIGTERMForcesImmediate(t *testing.T) {
	const grace = 20 * time.Second
	bin := buildChild(t)
	c := startChild(t, bin, "-addr", "127.0.0.1:0", "-grace", grace.String(), "-startup-logs", "50",
		"-export-interval", "1h", "-export-hang")
	c.waitLine(t, "ready ")

	c.signal(t, syscall.SIGTERM)
	c.waitLine(t, "exporter hung") // the graceful drain is stuck on the exporter
	sent := time.Now()
	c.signal(t, syscall.SIGTERM)
	code := c.wait(t)
	took := time.Since(sent)
	t.Logf("child exited %v after the second SIGTERM (grace %v); stderr:\n%s", took, grace, c.stderr())

	assert.Equal(t, 0, code, "an exporter that cannot deliver is not a failure of Immediate; the drops are counted")
	assert.Less(t, took, 2*time.Second, "the second signal must not wait for the grace period")
	out := c.stderr()
	assert.Contains(t, out, "forced to immediate by a second signal")
	assert.Contains(t, out, "immediate  exported 0, dropped 50")
	assert.Empty(t, c.stdout.String(), "nothing was exported")
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-grace", "0s"},
		{"-grace", "-1s"},
		{"-export-delay", "-1ms"},
		{"-export-interval", "0s"},
		{"-startup-logs", "-1"},
		{"-strategy", "later"},
		{"-strategy", "graceful(2)"},
		{"-no-such-flag"},
		{"-addr", "not an address"},
	} {
		var stderr bytes.Buffer
		err := run(args, io.Discard, &stderr)
		assert.Error(t, err, "%v", args)
	}
}
