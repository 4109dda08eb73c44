// Package readme_test checks that the example output shown in the root
// README.md is what the examples print.
//
// Convention. A line of the README that contains "go run ./examples/NAME
// FLAGS" (in prose, inside backticks, or in a sh block) names a command. The
// next fenced block without an info string (``` alone) after it is that
// command's output, unless a heading or another command comes first. In a
// prose paragraph holding the command, a backticked span containing
// "received=" is an inline output line of that command too (the zap
// paragraph). Each shown line must appear in the program's combined stdout
// and stderr, in order; other lines may come between. Before comparing, both
// sides are normalised: RFC 3339 and log-package times, time=VALUE,
// durations (12ms, 1.5s, 26µs), 127.0.0.1/localhost ports and runs of spaces
// are masked, and "…" in the README matches anything.
//
// STEADYLOG_README=path checks another copy of the README.
//
// Per command:
//   - "then SIGTERM" in the command's line: the test waits for the line
//     starting "ready", then sends SIGTERM (graceful). "-addr 127.0.0.1:0" is
//     added so that a busy port 8080 cannot fail the test.
//   - "against a (running) collector": the test runs a fake OTLP/HTTP
//     collector (every export accepted) and points
//     OTEL_EXPORTER_OTLP_ENDPOINT at it.
//   - "against a (running) collector" for examples/grpc: a fake OTLP/gRPC
//     collector instead.
//   - NAME=value words right before "go run" are set in the command's
//     environment.
//   - "no collector": the default endpoint must refuse connections; if
//     something listens on localhost:4318 the block is skipped.
//   - examples/metrics and examples/loadgen print rates that vary: only
//     their lines without a time= field are checked, with numbers masked.
package readme_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/grpc"
)

// block is one command of the README and the output lines it shows.
type block struct {
	line    int // README line of the command
	name    string
	args    []string
	env     []string // NAME=value assignments before "go run"
	context string   // the README line holding the command
	want    []string
}

var (
	goRunRe  = regexp.MustCompile("((?:[A-Z][A-Z0-9_]*=[^`#\\s]* +)*)go run \\./examples/([a-z0-9_]+)((?: +-[^`#\\s]+(?: +[^-`#\\s][^`#\\s]*)?)*)")
	inlineRe = regexp.MustCompile("`([^`]*received=[^`]*)`")
)

// parseREADME extracts the commands that have output blocks.
func parseREADME(t *testing.T, text string) []block {
	t.Helper()
	var (
		out     []block
		cur     *block
		inFence bool
		fenceOK bool // the open fence is an output fence bound to cur
		para    *block
	)
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		trim := strings.TrimSpace(l)
		if strings.HasPrefix(trim, "```") {
			if inFence {
				if fenceOK && cur != nil {
					out = append(out, *cur)
					cur = nil
				}
				inFence, fenceOK = false, false
				continue
			}
			inFence = true
			fenceOK = trim == "```" && cur != nil
			continue
		}
		if inFence && fenceOK {
			cur.want = append(cur.want, l)
			continue
		}
		if strings.HasPrefix(trim, "#") && !inFence {
			cur, para = nil, nil
			continue
		}
		if trim == "" && !inFence {
			if para != nil && len(para.want) > 0 {
				out = append(out, *para)
				if cur == para {
					cur = nil
				}
			}
			para = nil
			continue
		}
		if m := goRunRe.FindStringSubmatch(l); m != nil {
			cur = &block{line: i + 1, name: m[2], args: strings.Fields(m[3]), env: strings.Fields(m[1]), context: l}
			if !inFence {
				para = cur
			}
		}
		if para != nil && !inFence {
			for _, m := range inlineRe.FindAllStringSubmatch(l, -1) {
				para.want = append(para.want, m[1])
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("README.md: no output blocks after go run ./examples/... found")
	}
	return out
}

var (
	rfc3339Re  = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	stdlogRe   = regexp.MustCompile(`\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?`)
	timeKVRe   = regexp.MustCompile(`time=\S+`)
	durationRe = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s|m|h)(\d+(\.\d+)?(ns|µs|us|ms|s|m))*\b`)
	addrRe     = regexp.MustCompile(`(127\.0\.0\.1|localhost):\d+`)
	numberRe   = regexp.MustCompile(`\d+`)
	spacesRe   = regexp.MustCompile(`\s+`)
)

func normalise(s string, numbers bool) string {
	s = timeKVRe.ReplaceAllString(s, "time=<T>")
	s = rfc3339Re.ReplaceAllString(s, "<T>")
	s = stdlogRe.ReplaceAllString(s, "<T>")
	s = durationRe.ReplaceAllString(s, "<D>")
	s = addrRe.ReplaceAllString(s, "<ADDR>")
	if numbers {
		s = numberRe.ReplaceAllString(s, "<N>")
	}
	return strings.TrimSpace(spacesRe.ReplaceAllString(s, " "))
}

// pattern turns a README line into a regexp: "…" matches anything.
func pattern(line string, numbers bool) *regexp.Regexp {
	parts := strings.Split(timeKVRe.ReplaceAllString(line, "time=<T>"), "…")
	for i, p := range parts {
		// Normalise each part on its own so that "…" survives, but keep the
		// spaces next to it, which normalise would trim.
		lead := strings.HasPrefix(p, " ") && i > 0
		trail := strings.HasSuffix(p, " ") && i < len(parts)-1
		n := normalise(p, numbers)
		if lead && n != "" {
			n = " " + n
		}
		if trail && n != "" {
			n += " "
		}
		parts[i] = regexp.QuoteMeta(n)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

func TestREADMEOutput(t *testing.T) {
	path := "../../README.md"
	if p := os.Getenv("STEADYLOG_README"); p != "" { // to try an edited copy
		path = p
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseREADME(t, string(raw))
	bins := map[string]string{}
	dir := t.TempDir()
	for _, b := range blocks {
		t.Run(b.name+"_line"+strconv.Itoa(b.line), func(t *testing.T) {
			bin, ok := bins[b.name]
			if !ok {
				bin = filepath.Join(dir, b.name)
				cmd := exec.Command("go", "build", "-o", bin, "../"+b.name)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go build ./examples/%s: %v\n%s", b.name, err, out)
				}
				bins[b.name] = bin
			}
			check(t, b, bin)
		})
	}
}

func check(t *testing.T, b block, bin string) {
	if strings.TrimSpace(strings.Join(b.want, "")) == "" {
		t.Fatalf("README.md:%d: the output block of go run ./examples/%s is empty", b.line, b.name)
	}
	varying := b.name == "metrics" || b.name == "loadgen"
	args := append([]string(nil), b.args...)
	env := os.Environ()
	lower := strings.ToLower(b.context)
	signal := strings.Contains(lower, "then sigterm")
	if signal {
		args = append(args, "-addr", "127.0.0.1:0")
	}
	switch {
	case b.name == "grpc" && strings.Contains(lower, "against a"):
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+fakeGRPCCollector(t))
	case strings.Contains(lower, "against a running collector"), strings.Contains(lower, "against a collector"):
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+fakeCollector(t))
	case b.name == "otlp":
		// The no-collector case: the default endpoint must refuse.
		if c, err := net.DialTimeout("tcp", "localhost:4318", time.Second); err == nil {
			c.Close()
			t.Skip("something listens on localhost:4318; this block shows the run without a collector")
		}
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT=")
	}

	env = append(env, b.env...) // the command line's own assignments win
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe: the lines stay in write order
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	var (
		mu    sync.Mutex
		got   []string
		ready = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			got = append(got, sc.Text())
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "ready") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	if signal {
		select {
		case <-ready:
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		case <-done:
		case <-ctx.Done():
		}
	}
	<-done
	waitErr := cmd.Wait()
	pr.Close()
	if ctx.Err() != nil {
		t.Fatalf("./examples/%s %s: no exit within the timeout", b.name, strings.Join(args, " "))
	}
	// A non-zero exit is what the no-collector run does; the output decides.
	t.Logf("./examples/%s %s: %v", b.name, strings.Join(args, " "), waitErr)

	want := b.want
	if varying {
		want = nil
		for _, w := range b.want {
			if !strings.Contains(w, "time=") {
				want = append(want, w)
			}
		}
	}
	normGot := make([]string, len(got))
	for i, g := range got {
		normGot[i] = normalise(g, varying)
	}
	j := 0
	for _, w := range want {
		if strings.TrimSpace(w) == "" {
			continue
		}
		re := pattern(w, varying)
		for j < len(normGot) && !re.MatchString(normGot[j]) {
			j++
		}
		if j == len(normGot) {
			t.Fatalf("README.md:%d: `go run ./examples/%s %s` does not print, in order,\n\t%s\n(pattern %s)\noutput:\n%s",
				b.line, b.name, strings.Join(b.args, " "), w, re, strings.Join(got, "\n"))
		}
		j++
	}
}

// fakeCollector accepts every OTLP/HTTP export with an empty success
// response and returns its base URL.
func fakeCollector(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// grpcLogs accepts every OTLP/gRPC logs export.
type grpcLogs struct {
	collogspb.UnimplementedLogsServiceServer
}

func (grpcLogs) Export(context.Context, *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// fakeGRPCCollector serves OTLP/gRPC logs on 127.0.0.1, accepting every
// export, and returns its endpoint URL.
func fakeGRPCCollector(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collogspb.RegisterLogsServiceServer(srv, grpcLogs{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return "http://" + ln.Addr().String()
}
