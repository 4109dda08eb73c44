package processor_test

// The last drop and error summaries of Shutdown are written before it
// returns, even when its context has already ended (lifecycle.Immediate),
// and a stuck writer delays Shutdown by FinalSummaryGrace at most.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
)

// failingExporter fails every export, quickly.
type failingExporter struct{}

func (failingExporter) Export(context.Context, []sdklog.Record) error {
	return errors.New("backend down: 503 Service Unavailable")
}
func (failingExporter) ForceFlush(context.Context) error { return nil }
func (failingExporter) Shutdown(context.Context) error   { return nil }

// lockedBuffer is an io.Writer safe for the alert and error loggers'
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// firstWrite passes writes on to w and closes first on the first one.
type firstWrite struct {
	w     io.Writer
	once  sync.Once
	first chan struct{}
}

func newFirstWrite(w io.Writer) *firstWrite { return &firstWrite{w: w, first: make(chan struct{})} }

func (f *firstWrite) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.once.Do(func() { close(f.first) })
	return n, err
}

// fillForFinalSummary makes 3 failed exports — the first error's line is
// written at once (first is closed when it is), the 2 repeats are left for
// the final summary — and queues 7 records that nothing will export: an
// ended Shutdown counts them as dropped with reason shutdown.
func fillForFinalSummary(p *processor.Processor, first <-chan struct{}) {
	for i := range 3 {
		if err := p.OnEmit(context.Background(), rec(fmt.Sprint("failed ", i))); err != nil {
			panic(err)
		}
		_ = p.ForceFlush(context.Background()) // fails: the exporter is down
		if i == 0 {
			<-first
		}
	}
	for i := range 7 {
		if err := p.OnEmit(context.Background(), rec(fmt.Sprint("queued ", i))); err != nil {
			panic(err)
		}
	}
}

// endedContext is the kind of context lifecycle.Immediate passes.
func endedContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestFinalSummaryBeforeEndedShutdownReturns: when Shutdown, given an
// ended context, returns, the final drop summary and the final error
// summary are already written.
func TestFinalSummaryBeforeEndedShutdownReturns(t *testing.T) {
	var out lockedBuffer
	errOut := newFirstWrite(&out)
	p, err := processor.New(failingExporter{}, processor.WithoutRetry(), processor.WithExportInterval(time.Hour),
		processor.WithDropAlerts(slog.New(slog.NewTextHandler(&out, nil)), time.Hour),
		processor.WithErrorLog(slog.New(slog.NewTextHandler(errOut, nil)), time.Hour))
	require.NoError(t, err)
	fillForFinalSummary(p, errOut.first)

	require.ErrorIs(t, p.Shutdown(endedContext()), context.Canceled)
	got := out.String() // no waiting: Shutdown has returned
	assert.Contains(t, got, "shutdown=7", "the final drop summary")
	assert.Contains(t, got, "export_failed=3", "the final drop summary")
	assert.Contains(t, got, "count=2 interval=", "the final error summary (2 repeats)")
	s := p.Stats()
	invariant(t, s)
	require.Equal(t, uint64(7), s.Dropped[processor.DropShutdown])
}

// TestFinalSummaryStuckWriterBoundedByGrace: a writer that never returns
// delays an ended Shutdown by FinalSummaryGrace at most, and its lines are
// written once it recovers.
func TestFinalSummaryStuckWriterBoundedByGrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(*slog.Logger) []processor.Option
	}{
		{"drop alerts", func(l *slog.Logger) []processor.Option {
			return []processor.Option{processor.WithDropAlerts(l, time.Hour), processor.WithErrorHandler(func(error) {})}
		}},
		{"error log", func(l *slog.Logger) []processor.Option {
			return []processor.Option{processor.WithoutDropAlerts(), processor.WithErrorLog(l, time.Hour)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
			logger := slog.New(slog.NewTextHandler(w, nil))
			var released sync.Once
			release := func() { released.Do(func() { close(w.release) }) }
			t.Cleanup(release) // before goleak: the reporters' goroutines end
			opts := append([]processor.Option{processor.WithoutRetry(), processor.WithExportInterval(time.Hour)}, tc.opts(logger)...)
			p, err := processor.New(failingExporter{}, opts...)
			require.NoError(t, err)
			for i := range 3 {
				require.NoError(t, p.OnEmit(context.Background(), rec(fmt.Sprint(i))))
			}
			if tc.name == "error log" {
				// The first error's line is written at once, on the
				// reporter's goroutine: the writer is stuck from then on.
				_ = p.ForceFlush(context.Background())
				<-w.entered
			}

			start := time.Now()
			err = p.Shutdown(endedContext())
			took := time.Since(start)
			require.ErrorIs(t, err, context.Canceled)
			t.Logf("Shutdown returned after %v (grace %v)", took, processor.FinalSummaryGrace)
			// The tolerance covers scheduling on two shared cores under
			// -race; it is well below the one-second alertStopLimit that
			// would bound the wait without the grace.
			assert.Less(t, took, processor.FinalSummaryGrace+300*time.Millisecond)
			<-w.entered // the final summary is stuck in the writer
			release()
			want := "shutdown="
			if tc.name == "error log" {
				want = "count=" // the line that was stuck
			}
			require.Eventually(t, func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				return strings.Contains(strings.Join(w.lines, ""), want)
			}, 5*time.Second, 5*time.Millisecond, "the lines are written when the writer recovers")
		})
	}
}

const finalSummaryChildEnv = "STEADYLOG_TEST_FINAL_SUMMARY_CHILD"

// finalSummaryChildExit is the child's exit code: os.Exit(0) inside a test
// is reported as a failure by package testing.
const finalSummaryChildExit = 3

// TestFinalSummaryPrintedWhenProgramExitsAfterImmediate runs, in a child
// process (this test binary), a program that shuts its processor down with
// lifecycle.Immediate and exits at once, and reads the child's real
// standard error: the final drop summary and the final error summary are
// there.
func TestFinalSummaryPrintedWhenProgramExitsAfterImmediate(t *testing.T) {
	if os.Getenv(finalSummaryChildEnv) == "1" {
		finalSummaryChild()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for run := range 3 { // the loss was a race: run it a few times
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFinalSummaryPrintedWhenProgramExitsAfterImmediate$", "-test.count=1")
		cmd.Env = append(os.Environ(), finalSummaryChildEnv+"=1")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
		require.Equal(t, finalSummaryChildExit, exit.ExitCode(), "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
		if run == 0 {
			t.Logf("the child's stderr:\n%s", &stderr)
		}
		got := stderr.String()
		assert.Contains(t, got, `level=WARN msg="dropped 10 log records in the last `, "run %d", run)
		assert.Contains(t, got, "shutdown=7", "run %d: the final drop summary", run)
		assert.Contains(t, got, "export_failed=3", "run %d: the final drop summary", run)
		assert.Contains(t, got, `msg="steadylog: error" count=2 interval=`, "run %d: the final error summary", run)
	}
}

// finalSummaryChild is the child of
// TestFinalSummaryPrintedWhenProgramExitsAfterImmediate: drop alerts and
// errors on standard error (the drop alerts by default; the errors through
// a writer that tells when the first line is out, with the default
// interval), lifecycle.Immediate, and an exit right after.
func finalSummaryChild() {
	errOut := newFirstWrite(os.Stderr)
	proc, err := processor.New(failingExporter{}, processor.WithoutRetry(), processor.WithExportInterval(time.Hour),
		processor.WithErrorLog(slog.New(slog.NewTextHandler(errOut, nil)), 10*time.Second))
	if err != nil {
		panic(err)
	}
	fillForFinalSummary(proc, errOut.first)
	_ = lifecycle.Shutdown(context.Background(), lifecycle.Immediate, proc)
	os.Exit(finalSummaryChildExit) // at once, as a program's main returning would
}
