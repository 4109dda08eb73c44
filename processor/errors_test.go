package processor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

// errorsGuard bounds every wait of these tests, so that a regression fails
// instead of hanging. It is not used to synchronise anything.
const errorsGuard = 10 * time.Second

// downExporter fails every export with a plain error, like a backend that
// answers 503.
type downExporter struct{ calls atomic.Int64 }

func (e *downExporter) Export(context.Context, []sdklog.Record) error {
	e.calls.Add(1)
	return errors.New("backend down: 503 Service Unavailable")
}
func (e *downExporter) ForceFlush(context.Context) error { return nil }
func (e *downExporter) Shutdown(context.Context) error   { return nil }

// chanLines sends each line written to it on a channel, without its
// newline. slog's text handler writes one line per Write.
type chanLines chan string

func (c chanLines) Write(p []byte) (int, error) {
	c <- strings.TrimSuffix(string(p), "\n")
	return len(p), nil
}

func nextLine(t *testing.T, lines chanLines, what string) string {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(errorsGuard):
		t.Fatalf("timed out waiting for %s", what)
		return ""
	}
}

// quickStart is the README's Quick start with the exporter down: the
// processor under an SDK LoggerProvider, and slog's default logger (and
// with it the log package) routed into that provider through otelslog.
// It restores slog's and log's defaults at cleanup.
func quickStart(t *testing.T, opts ...processor.Option) (*processor.Processor, *sdklog.LoggerProvider) {
	t.Helper()
	opts = append([]processor.Option{
		processor.WithoutRetry(),
		processor.WithExportInterval(time.Hour), // exports happen at ForceFlush
		processor.WithDropAlerts(slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour),
	}, opts...)
	proc, err := processor.New(&downExporter{}, opts...)
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	prevSlog, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(otelslog.NewLogger("checkout", otelslog.WithLoggerProvider(provider)))
	t.Cleanup(func() {
		// SetDefault of slog's own default does not give the log package
		// its writer back: restore both.
		slog.SetDefault(prevSlog)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
	})
	return proc, provider
}

func flush(t *testing.T, provider *sdklog.LoggerProvider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), errorsGuard)
	defer cancel()
	// ForceFlush returns the export's error too; the error handler is
	// what these tests are about.
	require.ErrorContains(t, provider.ForceFlush(ctx), "backend down")
}

func shutdownProvider(t *testing.T, provider *sdklog.LoggerProvider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), errorsGuard)
	defer cancel()
	require.NoError(t, provider.Shutdown(ctx))
}

// TestQuickStartErrorsDoNotLoopBack is the issue: with slog's default
// routed into the pipeline, the processor's report of a failed export must
// not become a record of that pipeline, and must be seen.
func TestQuickStartErrorsDoNotLoopBack(t *testing.T) {
	lines := make(chanLines, 100)
	proc, provider := quickStart(t, processor.WithName("checkout-logs"),
		processor.WithErrorLog(slog.New(slog.NewTextHandler(lines, nil)), time.Hour))

	slog.Info("order placed", "id", 42)
	flush(t, provider)
	line := nextLine(t, lines, "the export error")
	assert.Regexp(t, `^time=\S+ level=ERROR msg="steadylog: error" count=1 error="steadylog/processor: export of 1 records failed \(dropped\): backend down: 503 Service Unavailable" otel.component.name=checkout-logs$`, line,
		"written at once, though the interval is an hour")
	assert.Equal(t, uint64(1), proc.Stats().Received, "the error report did not loop back into the processor")
	shutdownProvider(t, provider)
	s := proc.Stats()
	assert.Equal(t, uint64(1), s.Received)
	assert.Equal(t, uint64(1), s.Dropped[processor.DropExportFailed])
	assert.Empty(t, lines, "nothing more to say")
}

// TestOtelHandleLoopsBackUnderOtelslog shows what WithErrorHandler's
// documentation warns of, and what the default used to do: otel.Handle's
// default writes to the log package, which slog.SetDefault routed into the
// pipeline, so each failed export emits a record into the same processor.
func TestOtelHandleLoopsBackUnderOtelslog(t *testing.T) {
	proc, provider := quickStart(t, processor.WithErrorHandler(otel.Handle))
	slog.Info("order placed", "id", 42)
	flush(t, provider) // the export fails; its report is a record, emitted during the flush
	assert.GreaterOrEqual(t, proc.Stats().Received, uint64(2),
		"with otel.Handle, the error report is one more record for the failing pipeline")
	ctx, cancel := context.WithTimeout(context.Background(), errorsGuard)
	defer cancel()
	// The looped-back report was queued; Shutdown's drain fails to export
	// it in turn. No more records are taken after that: the loop ends.
	require.ErrorContains(t, provider.Shutdown(ctx), "backend down")
}

// TestShutdownWritesTheLastErrorSummary: 100 failed exports within one
// interval make two lines, the first error at once and the rest as one
// summary written by Shutdown. Processor.Shutdown must call stopErrors.
func TestShutdownWritesTheLastErrorSummary(t *testing.T) {
	lines := make(chanLines, 200)
	proc, provider := quickStart(t, processor.WithErrorLog(slog.New(slog.NewTextHandler(lines, nil)), time.Hour))
	slog.Info("order placed", "id", 0)
	flush(t, provider)
	assert.Contains(t, nextLine(t, lines, "the first error"), `count=1 error="steadylog/processor: export of 1 records failed (dropped): backend down: 503 Service Unavailable"`)
	for i := 1; i < 100; i++ {
		slog.Info("order placed", "id", i)
		flush(t, provider)
	}
	shutdownProvider(t, provider)
	select {
	case l := <-lines:
		assert.Contains(t, l, `count=99 interval=`, "one summary of the 99 repeats")
		assert.Contains(t, l, `error="steadylog/processor: export of 1 records failed (dropped): backend down: 503 Service Unavailable"`)
	default:
		t.Fatal("no summary after Shutdown: Processor.Shutdown must stop the error reporter (config.stopErrors)")
	}
	assert.Empty(t, lines, "2 lines for 100 errors")
	assert.Equal(t, uint64(100), proc.Stats().Received)
}

func TestWithErrorLogRejectsBadInput(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, opt := range map[string]processor.Option{
		"nil logger":    processor.WithErrorLog(nil, time.Second),
		"zero interval": processor.WithErrorLog(logger, 0),
		"negative":      processor.WithErrorLog(logger, -time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := processor.New(&downExporter{}, opt)
			require.ErrorIs(t, err, processor.ErrInvalidOption)
			assert.Nil(t, p)
		})
	}
}

const errorsChildEnv = "STEADYLOG_TEST_ERRORS_CHILD"

// TestDefaultErrorsGoToStandardError runs the Quick start, with no error
// option at all, in a child process (this test binary, switched by an
// environment variable), with a bad environment variable and the exporter
// down, and reads the child's real standard error.
func TestDefaultErrorsGoToStandardError(t *testing.T) {
	if os.Getenv(errorsChildEnv) == "1" {
		errorsChild()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDefaultErrorsGoToStandardError$", "-test.count=1")
	cmd.Env = append(os.Environ(), errorsChildEnv+"=1", processor.EnvMaxQueueSize+"=banana")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	t.Logf("the child's stderr:\n%s", &stderr)

	assert.Contains(t, stdout.String(), "received=50\n", "no error report looped back into the processor")
	countRE := regexp.MustCompile(` count=(\d+) `)
	var warnings, exportLines, exportErrors, dropLines int
	var exportCounts []int
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.Contains(l, `level=ERROR msg="steadylog: error" count=1 error="steadylog/processor: ignoring OTEL_BLRP_MAX_QUEUE_SIZE=\"banana\"`):
			warnings++
		case strings.Contains(l, `level=ERROR msg="steadylog: error" count=`) &&
			strings.Contains(l, `error="steadylog/processor: export of 1 records failed (dropped): backend down: 503 Service Unavailable" otel.component.name=steadylog_batching_log_processor/`):
			exportLines++
			m := countRE.FindStringSubmatch(l)
			require.NotNil(t, m, l)
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			exportErrors += n
			exportCounts = append(exportCounts, n)
		case strings.Contains(l, `level=WARN msg="dropped `) && strings.Contains(l, "export_failed="):
			dropLines++
		default:
			t.Errorf("unexpected line on stderr: %s", l)
		}
	}
	assert.Equal(t, 1, warnings, "the warning of New is on stderr")
	assert.Equal(t, 50, exportErrors, "every failed export is counted on stderr")
	// The first line at once, written by the report of the first failure
	// (telemetry.ErrorReporter.Handle), so it counts that failure alone
	// however fast the 49 others follow; the rest in Shutdown's summary. A
	// slow run may cross one 10s tick, which splits the rest in two.
	require.NotEmpty(t, exportCounts)
	assert.Equal(t, 1, exportCounts[0], "the first error is written at once, on its own")
	assert.GreaterOrEqual(t, exportLines, 2)
	assert.LessOrEqual(t, exportLines, 3, "rate limited: not one line per failure")
	assert.GreaterOrEqual(t, dropLines, 1, "the drop alert is on stderr too")
}

// errorsChild is the child of TestDefaultErrorsGoToStandardError.
func errorsChild() {
	proc, err := processor.New(&downExporter{}, processor.WithoutRetry(), processor.WithExportInterval(time.Hour))
	if err != nil {
		panic(err)
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	slog.SetDefault(otelslog.NewLogger("checkout", otelslog.WithLoggerProvider(provider)))
	ctx := context.Background()
	for i := range 50 {
		slog.Info("order placed", "id", i)
		_ = provider.ForceFlush(ctx) // the export's error, reported to the handler too
	}
	if err := provider.Shutdown(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("received=%d\n", proc.Stats().Received)
}
