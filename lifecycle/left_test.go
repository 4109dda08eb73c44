package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/lifecycle"
)

// leavingComponent counts records and, once shut down, leaves some for
// the next start; its RecordsLeft may panic or block instead.
type leavingComponent struct {
	countingComponent
	left     atomic.Uint64
	onLeft   func() // called by RecordsLeft first, if set
	leaveN   uint64 // what Shutdown leaves
	shutDown atomic.Bool
}

func (c *leavingComponent) Shutdown(ctx context.Context) error {
	c.left.Store(c.leaveN)
	c.shutDown.Store(true)
	return c.countingComponent.Shutdown(ctx)
}

func (c *leavingComponent) RecordsLeft() uint64 {
	if c.onLeft != nil {
		c.onLeft()
	}
	return c.left.Load()
}

// leftOnly leaves records but does not count them.
type leftOnly struct{ c *leavingComponent }

func (c leftOnly) ForceFlush(ctx context.Context) error { return c.c.ForceFlush(ctx) }
func (c leftOnly) Shutdown(ctx context.Context) error   { return c.c.Shutdown(ctx) }
func (c leftOnly) RecordsLeft() uint64                  { return c.c.RecordsLeft() }

// TestReportLeft: a LeftCounter's records left are read after its Shutdown
// (before it, it has left nothing) and shown in the report, for every
// strategy, alone, as Counted's counter and in a Group.
func TestReportLeft(t *testing.T) {
	for _, s := range []lifecycle.Strategy{lifecycle.Immediate, lifecycle.Flush, lifecycle.Graceful} {
		t.Run(s.String(), func(t *testing.T) {
			leaving := &leavingComponent{leaveN: 3000}
			leaving.onShutdown = func(c *countingComponent) { c.exported.Add(7) }
			plain := newFake("plain", nil, fast, fast)
			r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, roomyDeadline), s,
				lifecycle.Named("logs", leaving), lifecycle.Named("plain", plain))
			require.NoError(t, err)
			require.Len(t, r.Components, 2)
			logs := r.Components[0]
			assert.True(t, logs.HasLeft)
			assert.Equal(t, uint64(3000), logs.Left)
			assert.True(t, logs.HasCounts)
			assert.Equal(t, uint64(7), logs.Exported)
			assert.False(t, r.Components[1].HasLeft)
			assert.Equal(t, uint64(3000), r.Left())

			lines := strings.Split(r.String(), "\n")
			require.Len(t, lines, 3, r.String())
			assert.Contains(t, lines[0], "7 exported, 0 dropped, 3000 left for next start")
			assert.Regexp(t, `^  component\s+logs\s+\S+\s+\S+\s+exported 7, dropped 0, left for next start 3000\s+ok$`, lines[1])
			assert.Regexp(t, `^  component\s+plain\s+\S+\s+\S+\s+ok$`, lines[2])
		})
	}
}

// TestReportLeftWrapped: Counted forwards its counter's RecordsLeft, and
// a Group sums its members'; a component that leaves records without
// counting them shows only what it left.
func TestReportLeftWrapped(t *testing.T) {
	a, b := &leavingComponent{leaveN: 5}, &leavingComponent{leaveN: 6}
	only := leftOnly{&leavingComponent{leaveN: 4}}
	plainCounter := &countingComponent{}
	r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, roomyDeadline), lifecycle.Flush,
		lifecycle.Named("counted", lifecycle.Counted(newFake("provider", nil, fast, fast), a)),
		lifecycle.Named("group", lifecycle.Group(newFake("provider2", nil, fast, fast), b, only)),
		lifecycle.Named("only", only),
		lifecycle.Named("plain counted", lifecycle.Counted(newFake("provider3", nil, fast, fast), plainCounter)))
	require.NoError(t, err)
	// Counted reads a after the provider's Shutdown; a itself leaves
	// records only once shut down (below).
	c := r.Components
	assert.True(t, c[0].HasLeft)
	assert.Zero(t, c[0].Left, "read after the wrapped component's Shutdown, not the counter's")
	assert.True(t, c[1].HasLeft)
	assert.Equal(t, uint64(6+4), c[1].Left, "the members' sum")
	assert.True(t, c[2].HasLeft)
	assert.False(t, c[2].HasCounts)
	assert.Equal(t, uint64(4), c[2].Left)
	assert.Regexp(t, `component\s+only\s+\S+\s+flush\s+left for next start 4\s+ok`, r.String())
	assert.Regexp(t, `component\s+counted\s+\S+\s+flush\s+exported 0, dropped 0\s+ok`, r.String(), "nothing left: not shown")
	assert.False(t, c[3].HasLeft)
	assert.True(t, c[3].HasCounts)

	require.NoError(t, a.Shutdown(context.Background()))
	r, err = lifecycle.ShutdownNamed(ctxWithTimeout(t, roomyDeadline), lifecycle.Immediate,
		lifecycle.Named("counted", lifecycle.Counted(newFake("provider", nil, fast, fast), a)))
	require.NoError(t, err)
	assert.Equal(t, uint64(5), r.Components[0].Left)
}

// TestReportLeftMisbehaves: RecordsLeft is user code: one that panics or
// does not return is reported with OpRecordCounts, the component's counts
// and records left are left out, and the shutdown goes on.
func TestReportLeftMisbehaves(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for name, onLeft := range map[string]func(){
		"panics": func() { panic("left panic") },
		"blocks": func() { <-release },
	} {
		t.Run(name, func(t *testing.T) {
			bad := &leavingComponent{leaveN: 9, onLeft: onLeft}
			good := &leavingComponent{leaveN: 2}
			start := time.Now()
			r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, roomyDeadline), lifecycle.Flush,
				lifecycle.Named("bad", bad), lifecycle.Named("good", good))
			require.Less(t, time.Since(start), roomyDeadline/2, "not held by RecordsLeft")
			var le *lifecycle.Error
			require.True(t, errors.As(err, &le), "%v", err)
			require.Len(t, le.Failures, 1)
			f := le.Failures[0]
			assert.Equal(t, "bad", f.Name)
			assert.Equal(t, lifecycle.OpRecordCounts, f.Op)
			if name == "panics" {
				assert.ErrorIs(t, f.Err, lifecycle.ErrPanicked)
			} else {
				assert.True(t, f.Abandoned)
			}
			assert.True(t, bad.shutDown.Load())
			assert.False(t, r.Components[0].HasLeft)
			assert.False(t, r.Components[0].HasCounts)
			assert.True(t, r.Components[1].HasLeft)
			assert.Equal(t, uint64(2), r.Components[1].Left)
		})
	}
}
