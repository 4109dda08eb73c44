package processor

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/telemetry"
)

func TestDefaultErrorHandlerIsAReporter(t *testing.T) {
	c, err := newConfig(nil)
	require.NoError(t, err)
	require.NotNil(t, c.errs.reporter, "no WithErrorHandler: the default reporter")
	assert.Regexp(t, `^steadylog_batching_log_processor/\d+$`, c.tel.name, "resolved with the config, for the reports")
	c.stopErrors(context.Background())
	c.stopErrors(context.Background()) // a second call does nothing

	var got []error
	c, err = newConfig([]Option{WithErrorHandler(func(err error) { got = append(got, err) })})
	require.NoError(t, err)
	assert.Nil(t, c.errs.reporter, "the user's handler replaces the reporter")
	c.stopErrors(context.Background()) // nothing to stop
	c.errorHandler(errBackend)
	assert.Equal(t, []error{errBackend}, got)
}

func TestErrorHandlerAndErrorLogLastWins(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	clk := clock.NewFake(time.Now())
	c, err := newConfig([]Option{WithErrorHandler(func(error) {}), WithErrorLog(logger, time.Minute),
		optionFunc(func(c *config) {
			c.errs.clock = clk
		})})
	require.NoError(t, err)
	require.NotNil(t, c.errs.reporter)
	c.errorHandler(errBackend) // starts the reporter's goroutine, and its ticker
	clk.BlockUntil(1)
	assert.Equal(t, []time.Duration{time.Minute}, clk.Periods())
	c.stopErrors(context.Background())

	c, err = newConfig([]Option{WithErrorLog(logger, time.Minute), WithErrorHandler(func(error) {})})
	require.NoError(t, err)
	assert.Nil(t, c.errs.reporter)
}

// TestEnvWarningsReachTheReporter: the warnings of New about the
// environment go to the default reporter, written at once, with the
// processor's name.
func TestEnvWarningsReachTheReporter(t *testing.T) {
	lines := make(chan string, 10)
	env := map[string]string{EnvMaxQueueSize: "banana", EnvExportTimeout: "-5"}
	c, err := newConfig([]Option{
		WithName("audit"),
		WithErrorLog(slog.New(lineHandler{lines}), time.Hour),
		optionFunc(func(c *config) {
			c.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		}),
	})
	require.NoError(t, err)
	defer c.stopErrors(context.Background())
	got := map[string]bool{}
	for range 2 {
		select {
		case l := <-lines:
			got[l] = true
		case <-time.After(10 * time.Second):
			t.Fatal("a warning was not written")
		}
	}
	assert.Len(t, got, 2, "two warnings, two kinds: %v", got)
	for l := range got {
		assert.Contains(t, l, "steadylog: error")
		assert.Contains(t, l, "steadylog/processor: ignoring ")
	}
}

// TestErrorReporterGetsTheComponentName checks the attributes of a line.
func TestErrorReporterGetsTheComponentName(t *testing.T) {
	recs := make(chan slog.Record, 1)
	c, err := newConfig([]Option{WithName("audit"), WithErrorLog(slog.New(recordHandler{recs}), time.Hour)})
	require.NoError(t, err)
	c.errorHandler(errors.New("boom"))
	var r slog.Record
	select {
	case r = <-recs:
	case <-time.After(10 * time.Second):
		t.Fatal("no line")
	}
	c.stopErrors(context.Background())
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	assert.Equal(t, slog.LevelError, r.Level)
	assert.Equal(t, map[string]string{"count": "1", "error": "boom", string(telemetry.KeyComponentName): "audit"}, attrs)
}

type recordHandler struct{ recs chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.recs <- r.Clone()
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }
