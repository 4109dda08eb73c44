package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/telemetry"

	"github.com/steadylog/steadylog/internal/clock"
)

// These tests synchronise on what the reporter does — a line reaching the
// writer, a tick of the fake clock taken by the reporter's goroutine, its
// ticker being stopped — never on time passing. guardTimeout
// (hardening_test.go) only turns a hang into a failure.

// lineWriter sends each Write, one log line, on lines without its newline.
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	w.lines <- strings.TrimSuffix(string(p), "\n")
	return len(p), nil
}

// textLogger is a text handler on w without the time, so lines compare
// exactly.
func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// tick moves clk forward by d once the reporter's goroutine has made its
// ticker, and returns when the goroutine has taken the tick, failing the
// test if that does not happen (the goroutine ended, say). Once the next
// tick returns, the goroutine has written this one's lines.
func tick(t *testing.T, clk *clock.Fake, d time.Duration) {
	t.Helper()
	taken := make(chan struct{})
	go func() {
		defer close(taken)
		clk.BlockUntil(1)
		clk.AdvanceAndWait(d)
	}()
	recv(t, taken, fmt.Sprintf("the reporter's goroutine to take the tick %v later", d))
}

// newTestReporter returns a reporter writing text lines on a channel, on
// a fake clock that starts at epoch.
func newTestReporter(t *testing.T, opts ...telemetry.ErrorOption) (*telemetry.ErrorReporter, chan string, *clock.Fake) {
	t.Helper()
	lines := make(chan string, 1000)
	clk := clock.NewFake(epoch)
	r, err := telemetry.NewErrorReporter(append([]telemetry.ErrorOption{
		telemetry.WithErrorLogger(textLogger(lineWriter{lines})),
		telemetry.WithClock(clk),
	}, opts...)...)
	require.NoError(t, err)
	return r, lines, clk
}

func shutdownReporter(t *testing.T, r *telemetry.ErrorReporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
	defer cancel()
	require.NoError(t, r.Shutdown(ctx))
}

func TestErrorReporterWritesTheFirstErrorAtOnce(t *testing.T) {
	r, lines, clk := newTestReporter(t, telemetry.WithErrorAttrs("otel.component.name", "audit-log"))
	assert.Equal(t, telemetry.DefaultAlertInterval, telemetry.IntervalOf(r))
	r.Handle(nil) // ignored: starts nothing
	assert.Zero(t, clk.TickersMade(), "no error, no goroutine")

	r.Handle(errors.New("export of 512 records failed: 503 Service Unavailable"))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 error="export of 512 records failed: 503 Service Unavailable" otel.component.name=audit-log`,
		recv(t, lines, "the first line"), "written without waiting for a tick")
	shutdownReporter(t, r)
	awaitStopped(t, clk, "the ticker to be stopped")
	assert.Empty(t, lines, "nothing was left for the final summary")
	assert.Equal(t, 1, clk.TickersMade())
}

func TestErrorReporterSummarisesRepeats(t *testing.T) {
	r, lines, clk := newTestReporter(t)
	r.Handle(errors.New("export of 512 records failed: connection refused"))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 error="export of 512 records failed: connection refused"`,
		recv(t, lines, "the first line"))

	for i := range 500 {
		r.Handle(fmt.Errorf("export of %d records failed: connection refused", i))
	}
	tick(t, clk, 10*time.Second) // the first line was in this interval: no line
	for i := 500; i < 1000; i++ {
		r.Handle(fmt.Errorf("export of %d records failed: connection refused", i))
	}
	tick(t, clk, 10*time.Second)
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1000 interval=20s error="export of 999 records failed: connection refused"`,
		recv(t, lines, "the summary"), "one line for the 1000 repeats, with the latest text; none at the first tick")

	r.Handle(errors.New("export of 1 records failed: connection refused"))
	tick(t, clk, 10*time.Second)
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 interval=10s error="export of 1 records failed: connection refused"`,
		recv(t, lines, "the next summary"), "one line per interval")

	tick(t, clk, 10*time.Second) // quiet for a whole interval: forgotten; the goroutine ends
	awaitStopped(t, clk, "the goroutine to end")
	assert.Empty(t, lines)

	r.Handle(errors.New("export of 2 records failed: connection refused"))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 error="export of 2 records failed: connection refused"`,
		recv(t, lines, "the first line again"), "a kind that comes back after a quiet interval is written at once")
	assert.Equal(t, 2, clk.TickersMade(), "a goroutine per run")
	shutdownReporter(t, r)
	awaitStopped(t, clk, "the ticker to be stopped")
	assert.Empty(t, lines)
}

func TestErrorReporterDistinctKinds(t *testing.T) {
	r, lines, clk := newTestReporter(t)
	r.Handle(errors.New("dial tcp 10.0.0.7:4318: connection refused"))
	assert.Contains(t, recv(t, lines, "A"), `count=1 error="dial tcp 10.0.0.7:4318: connection refused"`)
	r.Handle(errors.New("export: 404 Not Found"))
	assert.Contains(t, recv(t, lines, "B"), `count=1 error="export: 404 Not Found"`)
	r.Handle(errors.New("export: 503 Service Unavailable"))
	assert.Contains(t, recv(t, lines, "C"), `count=1 error="export: 503 Service Unavailable"`,
		"the words tell kinds apart, not the numbers")
	r.Handle(errors.New("dial tcp 10.0.0.9:4319: connection refused")) // A: other address and port
	r.Handle(errors.New("export: 404 Not Found"))                      // B
	r.Handle(errors.New("export: 404 Not Found"))                      // B
	tick(t, clk, 10*time.Second)
	tick(t, clk, 10*time.Second)
	// One tick's lines are in the order of the kinds' first errors.
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 interval=20s error="dial tcp 10.0.0.9:4319: connection refused"`, recv(t, lines, "A's summary"))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=2 interval=20s error="export: 404 Not Found"`, recv(t, lines, "B's summary"))
	shutdownReporter(t, r)
	assert.Empty(t, lines, "C had no repeat")
}

// word spells n in letters only, so that no two are one kind.
func word(n int) string {
	var b []byte
	for {
		b = append(b, byte('a'+n%26))
		if n /= 26; n == 0 {
			return string(b)
		}
	}
}

func TestErrorReporterCapsTheKinds(t *testing.T) {
	r, lines, clk := newTestReporter(t)
	for i := range telemetry.MaxErrorKinds {
		r.Handle(errors.New("failure " + word(i)))
	}
	for i := range telemetry.MaxErrorKinds {
		assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 error="failure `+word(i)+`"`, recv(t, lines, "a first line"))
	}
	// Kinds beyond the cap are counted together.
	r.Handle(errors.New("failure " + word(telemetry.MaxErrorKinds)))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 kind=other error="failure `+word(telemetry.MaxErrorKinds)+`"`,
		recv(t, lines, "the other kind's first line"))
	for i := range 10_000 {
		r.Handle(errors.New("failure " + word(telemetry.MaxErrorKinds+1+i)))
	}
	r.Handle(errors.New("failure " + word(0))) // a tracked kind is still its own
	tick(t, clk, 10*time.Second)
	tick(t, clk, 10*time.Second)
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 interval=20s error="failure a"`, recv(t, lines, "a tracked kind's summary"))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=10000 interval=20s kind=other error="failure `+word(telemetry.MaxErrorKinds+10_000)+`"`,
		recv(t, lines, "the other kind's summary"))

	// Once quiet for an interval, the kinds are forgotten, and new kinds
	// have their own lines again.
	tick(t, clk, 10*time.Second)
	awaitStopped(t, clk, "the goroutine to end, with no kind left")
	r.Handle(errors.New("failure new"))
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 error="failure new"`, recv(t, lines, "a new kind's first line"))
	shutdownReporter(t, r)
	assert.Empty(t, lines)
}

func TestErrorReporterShutdownWritesTheRest(t *testing.T) {
	r, lines, clk := newTestReporter(t)
	shutdownIdle, err := telemetry.NewErrorReporter()
	require.NoError(t, err)
	shutdownReporter(t, shutdownIdle) // never given an error: nothing to do

	r.Handle(errors.New("timeout after 30s"))
	assert.Contains(t, recv(t, lines, "the first line"), `count=1 error="timeout after 30s"`)
	for range 5 {
		r.Handle(errors.New("timeout after 30s"))
	}
	// A new kind right before Shutdown: the goroutine or the final summary
	// writes its first line, never both.
	r.Handle(errors.New("breaker open"))
	shutdownReporter(t, r)
	awaitStopped(t, clk, "the ticker to be stopped")
	got := []string{recv(t, lines, "a last line"), recv(t, lines, "a last line")}
	assert.ElementsMatch(t, []string{
		`level=ERROR msg="steadylog: error" count=5 interval=0s error="timeout after 30s"`,
		`level=ERROR msg="steadylog: error" count=1 error="breaker open"`,
	}, got)

	r.Handle(errors.New("after shutdown")) // ignored: nothing is written after the final summary
	assert.NoError(t, r.Shutdown(context.Background()), "a second Shutdown does nothing")
	assert.Empty(t, lines)
	assert.Equal(t, 1, clk.TickersMade(), "Handle after Shutdown starts no goroutine")
}

// TestErrorReporterShutdownHonoursDeadlineWhileWriterIsStuck is the full
// stderr pipe: Handle keeps counting, Shutdown returns at its deadline,
// and everything is written, once, when the writer recovers.
func TestErrorReporterShutdownHonoursDeadlineWhileWriterIsStuck(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	w := newStuckWriter()
	defer w.release()
	clk := clock.NewFake(epoch)
	r, err := telemetry.NewErrorReporter(
		telemetry.WithErrorLogger(textLogger(w)),
		telemetry.WithClock(clk))
	require.NoError(t, err)

	r.Handle(errors.New("export failed: connection reset"))
	recv(t, w.entered, "the first line to reach the writer")
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for range 3 {
			r.Handle(errors.New("export failed: connection reset"))
		}
		r.Handle(errors.New("export failed: broken pipe"))
	}()
	recv(t, handled, "Handle to return while the writer is stuck")

	const deadline = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	began := time.Now()
	err = r.Shutdown(ctx)
	took := time.Since(began)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, took, deadline+400*time.Millisecond, "Shutdown must return at its deadline")
	over, cancelOver := context.WithCancel(context.Background())
	cancelOver()
	assert.NoError(t, r.Shutdown(over), "a second Shutdown returns at once")

	w.release()
	assert.Contains(t, recv(t, w.lines, "the first line"), `count=1 error="export failed: connection reset"`)
	// The goroutine was stuck before it was woken for the new kind: the
	// final summary writes both, in the order of their first errors.
	assert.Contains(t, recv(t, w.lines, "the summary"), `count=3 interval=0s error="export failed: connection reset"`)
	assert.Contains(t, recv(t, w.lines, "the new kind"), `count=1 error="export failed: broken pipe"`)
	awaitStopped(t, clk, "the ticker to be stopped")
	goleak.VerifyNone(t, leaks) // retries until the reporter's goroutines end
	assert.Equal(t, int64(3), w.writes.Load(), "each line exactly once")
	assert.Empty(t, w.lines)
}

// panicky is an error whose Error method panics on a nil receiver, like
// many a hand-written error type.
type panicky struct{ msg string }

func (p *panicky) Error() string { return p.msg }

func TestErrorReporterSurvivesPanics(t *testing.T) {
	var panics atomicCounter
	lines := make(chan string, 10)
	clk := clock.NewFake(epoch)
	r, err := telemetry.NewErrorReporter(
		telemetry.WithErrorLogger(slog.New(attrHandler{lines: lines, panics: &panics})),
		telemetry.WithClock(clk))
	require.NoError(t, err)

	panics.set(1)
	r.Handle(errors.New("lost"))
	r.Handle(errors.New("kept"))
	assert.Equal(t, "count=1 error=kept", recv(t, lines, "the line after the panic"),
		"the line the handler panicked on is lost; the goroutine lives on")

	var typedNil *panicky
	require.NotPanics(t, func() { r.Handle(typedNil) })
	assert.Regexp(t, `^count=1 error=\*telemetry_test.panicky \(its Error method panicked: .*nil pointer dereference.*\)$`,
		recv(t, lines, "the panicking error's line"))

	r.Handle(errors.New("kept"))
	panics.set(1)
	err = r.Shutdown(context.Background())
	require.ErrorIs(t, err, telemetry.ErrReporterPanic, "the final summary was lost to the panic")
	assert.Contains(t, err.Error(), "handler exploded")
	awaitStopped(t, clk, "the ticker to be stopped")
	assert.Empty(t, lines)
}

func TestErrorReporterFailingTicker(t *testing.T) {
	for name, factory := range map[string]func(time.Duration) clock.Ticker{
		"factory panics": func(time.Duration) clock.Ticker { panic("no ticker") },
		"factory is nil": func(time.Duration) clock.Ticker { return nil },
		"C panics":       func(time.Duration) clock.Ticker { return panickyTicker{stop: true} },
	} {
		t.Run(name, func(t *testing.T) {
			lines := make(chan string, 10)
			r, err := telemetry.NewErrorReporter(
				telemetry.WithErrorLogger(textLogger(lineWriter{lines})),
				telemetry.WithClock(faultyClock{Fake: clock.NewFake(epoch), newTicker: factory, now: func() time.Time { panic("no time") }}))
			require.NoError(t, err)
			r.Handle(errors.New("first"))
			assert.Contains(t, recv(t, lines, "the first line"), `count=1 error=first`, "first lines need no ticker")
			r.Handle(errors.New("first"))
			r.Handle(errors.New("first"))
			err = r.Shutdown(context.Background())
			require.ErrorIs(t, err, telemetry.ErrReporterPanic, "Shutdown tells why there were no summaries")
			line := recv(t, lines, "the final summary")
			assert.Contains(t, line, `count=2 interval=`, "the repeats wait for the final summary")
			assert.Contains(t, line, `error=first`)
		})
	}
}

func TestErrorReporterRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]telemetry.ErrorOption{
		"nil logger":    telemetry.WithErrorLogger(nil),
		"zero interval": telemetry.WithErrorInterval(0),
		"negative":      telemetry.WithErrorInterval(-time.Second),
		"nil clock":     telemetry.WithClock(nil),
		"empty message": telemetry.WithErrorMessage(""),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := telemetry.NewErrorReporter(opt)
			require.ErrorIs(t, err, telemetry.ErrInvalidOption)
			assert.Nil(t, r)
			assert.True(t, strings.HasPrefix(err.Error(), telemetry.ErrInvalidOption.Error()+": "), err.Error())
		})
	}
	r, err := telemetry.NewErrorReporter(nil)
	require.ErrorIs(t, err, telemetry.ErrInvalidOption, "a nil option is an invalid option")
	assert.Nil(t, r)
}

func TestErrorReporterMessageAndLongText(t *testing.T) {
	r, lines, _ := newTestReporter(t, telemetry.WithErrorMessage("steadylog/processor: error"))
	r.Handle(errors.New(strings.Repeat("é", 5000))) // 10,000 bytes, two per rune
	line := recv(t, lines, "the line")
	assert.True(t, strings.HasPrefix(line, `level=ERROR msg="steadylog/processor: error" count=1 error=`), line)
	text := strings.TrimPrefix(line, `level=ERROR msg="steadylog/processor: error" count=1 error=`)
	assert.LessOrEqual(t, len(text), 2048, "the text is cut")
	assert.True(t, strings.HasSuffix(text, "é…"), "at a rune boundary, marked")
	shutdownReporter(t, r)
}

func TestErrorReporterHugeInterval(t *testing.T) {
	lines := make(chan string, 4)
	r, err := telemetry.NewErrorReporter(telemetry.WithErrorLogger(textLogger(lineWriter{lines})),
		telemetry.WithErrorInterval(math.MaxInt64))
	require.NoError(t, err)
	r.Handle(errors.New("x"))
	assert.Contains(t, recv(t, lines, "the first line"), "error=x", "the real ticker accepts it")
	r.Handle(errors.New("x"))
	shutdownReporter(t, r)
	assert.Contains(t, recv(t, lines, "the final summary"), "count=1 interval=")
}

var countRE = regexp.MustCompile(`count=(\d+) .*error="kind (\w+)`)

// TestErrorReporterConcurrentHandleCountsExactly calls Handle from 16
// goroutines, with ticks by hand and with a real 1ms ticker (kinds are
// then forgotten and goroutines restarted while errors arrive): every
// error is in exactly one line's count.
func TestErrorReporterConcurrentHandleCountsExactly(t *testing.T) {
	const goroutines, perGoroutine, kinds = 16, 1000, 4
	for _, realTicker := range []bool{false, true} {
		t.Run(fmt.Sprintf("real ticker %v", realTicker), func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			var out syncLines
			opts := []telemetry.ErrorOption{telemetry.WithErrorLogger(textLogger(&out))}
			var clk *clock.Fake
			if realTicker {
				opts = append(opts, telemetry.WithErrorInterval(time.Millisecond))
			} else {
				clk = clock.NewFake(epoch)
				opts = append(opts, telemetry.WithClock(clk))
			}
			r, err := telemetry.NewErrorReporter(opts...)
			require.NoError(t, err)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range perGoroutine {
						r.Handle(fmt.Errorf("kind %s: attempt %d of goroutine %d", word(i%kinds), i, g))
					}
				})
			}
			if clk != nil {
				// Tick while the errors arrive, until the goroutines are
				// done. A tick may find no goroutine to take it (every kind
				// was forgotten, and the next Handle has not started one):
				// AdvanceAndWait then only moves the clock.
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
			ticking:
				for {
					select {
					case <-done:
						break ticking
					default:
						clk.AdvanceAndWait(10 * time.Second)
					}
				}
			}
			wg.Wait()
			shutdownReporter(t, r)
			goleak.VerifyNone(t, leaks)

			totals := map[string]int{}
			for _, l := range out.all() {
				m := countRE.FindStringSubmatch(l)
				require.NotNil(t, m, l)
				n, err := strconv.Atoi(m[1])
				require.NoError(t, err)
				totals[m[2]] += n
			}
			want := map[string]int{}
			for i := range kinds {
				want[word(i)] = goroutines * perGoroutine / kinds
			}
			assert.Equal(t, want, totals, "every error counted once")
		})
	}
}

// TestErrorReporterDefaultWritesToStandardError runs a child test process
// whose reporter has no options, and reads the child's real stderr.
func TestErrorReporterDefaultWritesToStandardError(t *testing.T) {
	const env = "STEADYLOG_TEST_ERROR_REPORTER_CHILD"
	if os.Getenv(env) == "1" {
		r, err := telemetry.NewErrorReporter()
		if err != nil {
			panic(err)
		}
		for i := range 100 {
			r.Handle(fmt.Errorf("export of %d records failed: connection refused", i))
		}
		if err := r.Shutdown(context.Background()); err != nil {
			panic(err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestErrorReporterDefaultWritesToStandardError$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stdout: %s\nstderr: %s", &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	require.NotEmpty(t, lines)
	total := 0
	for _, l := range lines {
		assert.Regexp(t, `^time=\S+ level=ERROR msg="steadylog: error" count=\d+ (interval=\S+ )?error="export of \d+ records failed: connection refused"$`, l)
		m := regexp.MustCompile(`count=(\d+)`).FindStringSubmatch(l)
		require.NotNil(t, m)
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	assert.Equal(t, 100, total, "all the errors, on stderr: %s", &stderr)
	assert.LessOrEqual(t, len(lines), 2, "a first line and one summary, not 100 lines")
	assert.NotContains(t, stdout.String(), "steadylog: error")
}

// syncLines collects the lines written to it.
type syncLines struct {
	mu    sync.Mutex
	lines []string
}

func (s *syncLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (s *syncLines) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// attrHandler sends "count=… error=…" of each record on lines. It panics
// while panics > 0, once per count.
type attrHandler struct {
	lines  chan string
	panics *atomicCounter
}

func (h attrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h attrHandler) Handle(_ context.Context, r slog.Record) error {
	if h.panics.take() {
		panic("handler exploded")
	}
	var parts []string
	r.Attrs(func(a slog.Attr) bool {
		parts = append(parts, a.Key+"="+a.Value.String())
		return true
	})
	h.lines <- strings.Join(parts, " ")
	return nil
}
func (h attrHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h attrHandler) WithGroup(string) slog.Handler      { return h }

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) set(n int) { c.mu.Lock(); c.n = n; c.mu.Unlock() }
func (c *atomicCounter) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 {
		c.n--
		return true
	}
	return false
}
