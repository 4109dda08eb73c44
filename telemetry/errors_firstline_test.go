package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/internal/clock"
)

// These tests check the first line of a kind is written by the Handle
// call that reports it. They wait on channels only; the reporter's wait
// for a first line is set to firstLineGuard where it must not run out, so
// that a slow machine cannot make Handle return before the line is out.

const firstLineGuard = 10 * time.Second

// gatedWriter records each Write, one log line. While gate is non-nil,
// Write announces itself on entered and waits for the gate to close.
type gatedWriter struct {
	mu      sync.Mutex
	lines   []string
	gate    chan struct{}
	entered chan struct{}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	gate := w.gate
	w.mu.Unlock()
	if gate != nil {
		w.entered <- struct{}{}
		<-gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// block makes the following writes wait for the returned gate.
func (w *gatedWriter) block() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gate, w.entered = make(chan struct{}), make(chan struct{}, 100)
	return w.gate
}

func (w *gatedWriter) unblock() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.gate)
	w.gate = nil
}

func (w *gatedWriter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

func newFirstLineReporter(t *testing.T, w *gatedWriter, wait time.Duration) *ErrorReporter {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	// The fake clock stands still and never ticks: every summary is the
	// final one, with interval=0s.
	r, err := NewErrorReporter(WithErrorLogger(logger), withClock(clock.NewFake(t0)))
	require.NoError(t, err)
	r.firstWait = wait
	return r
}

func shutdownFirstLine(t *testing.T, r *ErrorReporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), firstLineGuard)
	defer cancel()
	require.NoError(t, r.Shutdown(ctx))
}

// TestErrorReporterFirstLineIsOutWhenHandleReturns is the design claim:
// the first error of a kind is written at once, with count=1, whatever
// follows it. Before, Handle only woke a goroutine, and 50 errors in a row
// could be written as one line with count=50.
func TestErrorReporterFirstLineIsOutWhenHandleReturns(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	w := &gatedWriter{}
	r := newFirstLineReporter(t, w, firstLineGuard)

	r.Handle(errors.New("export of 1 records failed: 503"))
	require.Equal(t, []string{`level=ERROR msg="steadylog: error" count=1 error="export of 1 records failed: 503"`}, w.all(),
		"written before Handle returned")
	for i := range 49 {
		r.Handle(fmt.Errorf("export of %d records failed: 503", i+2))
	}
	require.Len(t, w.all(), 1, "repeats are only counted")
	r.Handle(errors.New("other failure"))
	require.Len(t, w.all(), 2, "a new kind is written at once too")
	shutdownFirstLine(t, r)
	assert.Equal(t, []string{
		`level=ERROR msg="steadylog: error" count=1 error="export of 1 records failed: 503"`,
		`level=ERROR msg="steadylog: error" count=1 error="other failure"`,
		`level=ERROR msg="steadylog: error" count=49 interval=0s error="export of 50 records failed: 503"`,
	}, w.all())
	goleak.VerifyNone(t, leaks)
}

// TestErrorReporterFirstLineWaitIsBounded: with the writer stuck, Handle
// waits once, no longer than its bound, and then not at all until the
// line it gave up on is written; after that it waits again. Nothing is
// lost or written twice.
func TestErrorReporterFirstLineWaitIsBounded(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	w := &gatedWriter{}
	r := newFirstLineReporter(t, w, time.Millisecond)
	w.block()

	r.Handle(errors.New("A")) // the wait runs out; the line is in the writer
	<-w.entered
	r.mu.Lock()
	slow := r.slow
	require.NotNil(t, slow, "Handle gave up on the line and marked the logger slow")
	r.firstWait = time.Hour // a Handle that waited now would hang the test
	r.mu.Unlock()

	handled := make(chan struct{})
	go func() {
		defer close(handled)
		r.Handle(errors.New("B")) // a new kind: no wait, the logger is stuck
		r.Handle(errors.New("A")) // a repeat: never waits
	}()
	select {
	case <-handled:
	case <-time.After(firstLineGuard):
		t.Fatal("Handle waited for a stuck logger")
	}
	assert.Empty(t, w.all())

	w.unblock() // A's line goes out, then B's
	<-slow      // A's is out: C's Handle waits again
	r.Handle(errors.New("C"))
	assert.Equal(t, []string{
		`level=ERROR msg="steadylog: error" count=1 error=A`,
		`level=ERROR msg="steadylog: error" count=1 error=B`,
		`level=ERROR msg="steadylog: error" count=1 error=C`,
	}, w.all(), "C was written before its Handle returned, after A and B")
	r.mu.Lock()
	assert.Nil(t, r.slow, "the logger recovered")
	r.mu.Unlock()
	shutdownFirstLine(t, r)
	assert.Equal(t, `level=ERROR msg="steadylog: error" count=1 interval=0s error=A`, w.all()[3])
	assert.Len(t, w.all(), 4)
	goleak.VerifyNone(t, leaks)
}

// TestErrorReporterPendingFirstLineAtShutdown: a first line still waiting
// for a stuck writer when Shutdown comes is written by the final summary,
// before its kind's repeats.
func TestErrorReporterPendingFirstLineAtShutdown(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	w := &gatedWriter{}
	r := newFirstLineReporter(t, w, time.Millisecond)
	w.block()
	r.Handle(errors.New("A"))
	<-w.entered // the goroutine is stuck writing A
	r.Handle(errors.New("B"))
	r.Handle(errors.New("B"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, r.Shutdown(ctx), context.Canceled)
	w.unblock()
	<-r.finished
	assert.Equal(t, []string{
		`level=ERROR msg="steadylog: error" count=1 error=A`,
		`level=ERROR msg="steadylog: error" count=1 error=B`,
		`level=ERROR msg="steadylog: error" count=1 interval=0s error=B`,
	}, w.all())
	goleak.VerifyNone(t, leaks)
}
