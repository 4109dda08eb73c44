package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/lifecycle"
)

func TestReportString(t *testing.T) {
	counting := &countingComponent{}
	counting.onShutdown = func(c *countingComponent) { c.exported.Add(12); c.dropped.Add(3) }
	stuck := newFake("stuck", nil, fast, hung).releaseAtEnd(t)

	m := newManager(t, lifecycle.WithTimeout(200*time.Millisecond))
	require.NoError(t, m.AddHook("http", func(context.Context) error { return nil }))
	require.NoError(t, m.Register("logs", counting))
	require.NoError(t, m.Register("stuck", stuck))
	require.Error(t, m.Shutdown(context.Background()))

	s := m.Wait().String()
	t.Log("\n" + s)
	lines := strings.Split(s, "\n")
	require.Len(t, lines, 4, "a header, one line per hook and per component")
	assert.True(t, strings.HasPrefix(lines[0], "shutdown graceful (Shutdown called): FAILED in "), lines[0])
	assert.Contains(t, lines[0], "12 exported, 3 dropped")
	assert.Regexp(t, `^  hook\s+http\s+\S+\s+ok$`, lines[1])
	assert.Regexp(t, `^  component\s+logs\s+\S+\s+graceful\s+exported 12, dropped 3\s+ok$`, lines[2])
	assert.Regexp(t, `^  component\s+stuck\s+\S+\s+graceful\s+ABANDONED: stuck shutdown: abandoned .*context deadline exceeded`, lines[3])
}

func TestReportStringImmediateWithoutTrigger(t *testing.T) {
	r, err := lifecycle.ShutdownNamed(context.Background(), lifecycle.Immediate, lifecycle.Named("c", newFake("c", nil, fast, fast)))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(r.String(), "shutdown immediate: ok in "), r.String())
	assert.Equal(t, uint64(0), r.Dropped())
}

func TestErrorMessages(t *testing.T) {
	one := &lifecycle.Error{Failures: []*lifecycle.ComponentError{
		{Name: "logs", Op: lifecycle.OpShutdown, Err: context.DeadlineExceeded, Abandoned: true},
	}}
	assert.Equal(t, "steadylog/lifecycle: 1 failure: logs shutdown: abandoned (no return 40ms after its context ended): context deadline exceeded", one.Error())
	assert.True(t, errors.Is(one, lifecycle.ErrAbandoned))
	assert.True(t, errors.Is(one, context.DeadlineExceeded))

	two := &lifecycle.Error{Failures: []*lifecycle.ComponentError{
		{Name: "a", Op: lifecycle.OpForceFlush, Err: errBoom},
		{Name: "h", Op: lifecycle.OpHook, Err: context.Canceled},
	}}
	assert.Equal(t, "steadylog/lifecycle: 2 failures: a force_flush: boom; h hook: context canceled", two.Error())
	assert.False(t, errors.Is(two, lifecycle.ErrAbandoned), "not abandoned: only failed")
	assert.True(t, errors.Is(two, errBoom))
}
