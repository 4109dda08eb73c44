package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
)

func TestErrorKey(t *testing.T) {
	for text, want := range map[string]string{
		"export of 512 records failed (will be retried): backend refused": "export of N records failed (will be retried): backend refused",
		"dial tcp 10.0.0.7:4318: connect: connection refused":             "dial tcp N.N.N.N:N: connect: connection refused",
		"dial tcp [::1]:4317: connection refused":                         "dial tcp [::N]:N: connection refused",
		"status 404: Not Found":                                           "status N: Not Found",
		"request 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed":             "request N-N-N-N-N failed",
		"ptr 0xc000123456, http2, v1.2.3, HTTP/1.1":                       "ptr N, N, N.N.N, HTTP/N.N",
		"deadline exceeded":                                               "deadline exceeded",
		"tâche n°42 échouée":                                              "tâche n°N échouée",
		"":                                                                "",
	} {
		assert.Equal(t, want, errorKey(text), text)
	}
	long := errorKey(strings.Repeat("a", 10_000))
	assert.LessOrEqual(t, len(long), maxKeyText)
	assert.True(t, strings.HasSuffix(long, "…"))
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "abc", truncate("abc", 3))
	assert.Equal(t, "a…", truncate("abcde", 4))
	assert.Equal(t, "…", truncate("ééé", 4), "never half a rune")
	assert.Equal(t, "é…", truncate("éééé", 6))
}

func TestErrorReporterDefaults(t *testing.T) {
	r, err := NewErrorReporter()
	require.NoError(t, err)
	assert.Equal(t, DefaultAlertInterval, r.interval)
	assert.Equal(t, DefaultErrorMessage, r.msg)
	_, isText := r.logger.Handler().(*slog.TextHandler)
	assert.True(t, isText, "a text handler (on os.Stderr: see TestErrorReporterDefaultWritesToStandardError)")
	require.NoError(t, r.Shutdown(context.Background()))
}

// TestErrorReporterMemoryIsBounded feeds kinds without end and long texts,
// with no tick to forget any: the reporter holds MaxErrorKinds kinds and
// one other, each with a bounded text.
func TestErrorReporterMemoryIsBounded(t *testing.T) {
	r, err := NewErrorReporter(WithErrorLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		withClock(clock.NewFake(t0)))
	require.NoError(t, err)
	for i := range 10_000 {
		r.Handle(fmt.Errorf("%s %d", strings.Repeat(string(rune('a'+i%26)), 100+i%5000), i))
		r.Handle(errors.New(strings.Repeat("x", i)))
	}
	r.mu.Lock()
	assert.Len(t, r.kinds, MaxErrorKinds)
	require.NotNil(t, r.other)
	for k, v := range r.kinds {
		assert.LessOrEqual(t, len(k), maxKeyText)
		assert.LessOrEqual(t, len(v.text), maxErrorText)
	}
	assert.LessOrEqual(t, len(r.other.text), maxErrorText)
	r.mu.Unlock()
	require.NoError(t, r.Shutdown(context.Background()))
}
