package lifecycle_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/lifecycle"
)

func newManager(t *testing.T, opts ...lifecycle.Option) *lifecycle.Manager {
	t.Helper()
	m, err := lifecycle.NewManager(opts...)
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	return m
}

func TestNewManagerRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]lifecycle.Option{
		"zero timeout":      lifecycle.WithTimeout(0),
		"negative timeout":  lifecycle.WithTimeout(-time.Second),
		"zero hook timeout": lifecycle.WithHookTimeout(0),
		"no signals":        lifecycle.WithSignals(),
		"nil signal":        lifecycle.WithSignals(syscall.SIGTERM, nil),
		"nil option":        nil,
	} {
		_, err := lifecycle.NewManager(opt)
		assert.ErrorIs(t, err, lifecycle.ErrInvalidOption, name)
	}
	_, err := lifecycle.NewManager(lifecycle.WithStrategy(lifecycle.GracefulWithin(2)))
	assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy)
	_, err = lifecycle.NewManager(lifecycle.WithStrategy(lifecycle.Strategy{}))
	assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy)
}

func TestManagerRegistrationErrors(t *testing.T) {
	m := newManager(t)
	c := newFake("c", nil, fast, fast)
	var typedNil *fakeComponent
	assert.ErrorIs(t, m.Register("x", nil), lifecycle.ErrNilComponent)
	assert.ErrorIs(t, m.Register("x", typedNil), lifecycle.ErrNilComponent)
	assert.ErrorIs(t, m.Register("", c), lifecycle.ErrEmptyName)
	require.NoError(t, m.Register("logs", c))
	assert.ErrorIs(t, m.Register("logs", c), lifecycle.ErrDuplicateName)
	assert.ErrorIs(t, m.AddHook("logs", func(context.Context) error { return nil }), lifecycle.ErrDuplicateName)
	assert.ErrorIs(t, m.AddHook("h", nil), lifecycle.ErrNilHook)
	assert.ErrorIs(t, m.AddHook("", func(context.Context) error { return nil }), lifecycle.ErrEmptyName)
	//lint:ignore SA1012 passing a nil context is the point of this check
	assert.ErrorIs(t, m.Shutdown(nil), lifecycle.ErrNilContext) //nolint:staticcheck
	select {
	case <-m.Done():
		t.Fatal("a refused Shutdown must not start the shutdown")
	default:
	}

	require.NoError(t, m.Shutdown(context.Background()))
	assert.ErrorIs(t, m.Register("late", c), lifecycle.ErrShutdownStarted)
	assert.ErrorIs(t, m.AddHook("late", func(context.Context) error { return nil }), lifecycle.ErrShutdownStarted)
	assert.ErrorIs(t, m.Listen(), lifecycle.ErrShutdownStarted)
}

func TestManagerRunsHooksInReverseThenComponentsInOrder(t *testing.T) {
	j := &journal{}
	m := newManager(t, lifecycle.WithStrategy(lifecycle.Flush))
	for _, name := range []string{"h1", "h2", "h3"} {
		require.NoError(t, m.AddHook(name, func(context.Context) error { j.add(name); return nil }))
	}
	require.NoError(t, m.Register("logs", newFake("logs", j, fast, fast)))
	require.NoError(t, m.Register("metrics", newFake("metrics", j, fast, fast)))

	require.NoError(t, m.Shutdown(context.Background()))
	assert.Equal(t, []string{"h3", "h2", "h1", "logs.flush", "metrics.flush", "logs.shutdown", "metrics.shutdown"}, j.list())

	r := m.Wait()
	assert.Equal(t, "Shutdown called", r.Trigger)
	assert.Equal(t, lifecycle.Flush, r.Strategy)
	require.Len(t, r.Hooks, 3)
	assert.Equal(t, "h1", r.Hooks[0].Name, "hooks are reported in registration order")
	require.Len(t, r.Components, 2)
	assert.Equal(t, "logs", r.Components[0].Name)
	assert.NoError(t, r.Err)
}

func TestManagerShutdownIsIdempotentAndConcurrencySafe(t *testing.T) {
	j := &journal{}
	m := newManager(t)
	require.NoError(t, m.Register("bad", newFake("bad", j, fast, fails)))
	const callers = 8
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { errs[i] = m.Shutdown(context.Background()) })
	}
	wg.Wait()
	require.ErrorIs(t, errs[0], errBoom)
	for _, err := range errs[1:] {
		assert.Same(t, errs[0], err, "every caller gets the one result")
	}
	assert.Equal(t, []string{"bad.flush", "bad.shutdown"}, j.list(), "the shutdown runs once")
	assert.Same(t, errs[0], m.Shutdown(context.Background()))
	assert.Same(t, errs[0], m.Wait().Err)
}

func TestManagerLaterCallerStopsWaitingAtItsContext(t *testing.T) {
	hook := make(chan struct{})
	entered := make(chan struct{})
	m := newManager(t)
	require.NoError(t, m.AddHook("slow", func(ctx context.Context) error {
		close(entered)
		select {
		case <-hook:
		case <-ctx.Done():
		}
		return nil
	}))
	first := make(chan error, 1)
	go func() { first <- m.Shutdown(context.Background()) }()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, m.Shutdown(ctx), context.Canceled)
	close(hook)
	require.NoError(t, <-first)
}

func TestManagerHookTimeoutAbandonsHungHook(t *testing.T) {
	const hookTimeout = 150 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	j := &journal{}
	clk := lifecycle.UseFakeClock(t)
	m := newManager(t, lifecycle.WithHookTimeout(hookTimeout))
	inHung := make(chan struct{})
	require.NoError(t, m.AddHook("ok", func(context.Context) error { j.add("ok"); return nil }))
	require.NoError(t, m.AddHook("hung", func(context.Context) error { j.add("hung"); close(inHung); <-release; return nil }))
	require.NoError(t, m.Register("logs", newFake("logs", j, fast, fast)))

	errc := make(chan error, 1)
	go func() { errc <- m.Shutdown(context.Background()) }()
	<-inHung
	clk.BlockUntil(2) // the Manager's timeout and the hook's
	clk.Advance(hookTimeout)
	clk.BlockUntil(2) // the Manager's timeout and the margin after the hook's
	clk.Advance(lifecycle.AbandonMargin)
	err := await(t, errc)
	require.ErrorIs(t, err, lifecycle.ErrAbandoned)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var ce *lifecycle.ComponentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "hung", ce.Name)
	assert.Equal(t, lifecycle.OpHook, ce.Op)
	// The next hook and the components still ran.
	assert.Equal(t, []string{"hung", "ok", "logs.flush", "logs.shutdown"}, j.list())
	r := m.Wait()
	assert.True(t, r.Hooks[1].Abandoned)
	assert.Equal(t, hookTimeout+lifecycle.AbandonMargin, r.Hooks[1].Duration)
	assert.False(t, r.Hooks[0].Abandoned)
	assert.Equal(t, hookTimeout+lifecycle.AbandonMargin, r.Duration, "the other hook and the components return at once")
	assert.NoError(t, r.Components[0].Err)
}

func TestManagerHookErrorIsReported(t *testing.T) {
	m := newManager(t)
	require.NoError(t, m.AddHook("db", func(context.Context) error { return errBoom }))
	err := m.Shutdown(context.Background())
	require.ErrorIs(t, err, errBoom)
	r := m.Wait()
	require.Error(t, r.Hooks[0].Err)
	assert.Contains(t, r.Hooks[0].Err.Error(), "db hook: boom")
}

func TestManagerTimeoutBoundsShutdown(t *testing.T) {
	const timeout = 200 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	m := newManager(t, lifecycle.WithTimeout(timeout))
	stuck := newFake("stuck", nil, fast, hung).releaseAtEnd(t)
	require.NoError(t, m.Register("stuck", stuck))
	errc := make(chan error, 1)
	go func() { errc <- m.Shutdown(context.Background()) }()
	require.Equal(t, "stuck.flush", <-stuck.entered)
	require.Equal(t, "stuck.shutdown", <-stuck.entered) // with the rest of the timeout
	clk.Advance(timeout)
	clk.BlockUntil(1) // the margin, the timeout having passed
	clk.Advance(lifecycle.AbandonMargin)
	err := await(t, errc)
	require.ErrorIs(t, err, lifecycle.ErrAbandoned)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, timeout+lifecycle.AbandonMargin, m.Wait().Duration)
}

// Signals are sent to the test process itself; the Manager catches them, so
// the process does not stop.
func TestManagerSignalStartsShutdown(t *testing.T) {
	j := &journal{}
	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR1))
	require.NoError(t, m.Register("logs", newFake("logs", j, fast, fast)))
	require.NoError(t, m.Listen())
	assert.ErrorIs(t, m.Listen(), lifecycle.ErrAlreadyListening)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	r := m.Wait()
	assert.Equal(t, "signal "+syscall.SIGUSR1.String(), r.Trigger)
	assert.False(t, r.Forced)
	assert.NoError(t, r.Err)
	assert.Equal(t, []string{"logs.flush", "logs.shutdown"}, j.list())
}

func TestManagerSecondSignalForcesImmediate(t *testing.T) {
	clk := lifecycle.UseFakeClock(t)
	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR2), lifecycle.WithTimeout(time.Minute),
		lifecycle.WithStrategy(lifecycle.Flush))
	draining := newFake("logs", nil, honours, honours) // drains until told to stop
	stuck := newFake("stuck", nil, fast, hung).releaseAtEnd(t)
	require.NoError(t, m.Register("logs", draining))
	require.NoError(t, m.Register("stuck", stuck))
	require.NoError(t, m.Listen())

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
	require.Equal(t, "logs.flush", <-draining.entered) // the shutdown is under way
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
	// Forced: the interrupted flush and every Shutdown end together, and
	// share one margin; only stuck's lasts it.
	require.Equal(t, "logs.shutdown", <-draining.entered)
	require.Equal(t, "stuck.shutdown", <-stuck.entered)
	lifecycle.AwaitCallsEnded(t, 2) // logs' flush and Shutdown
	clk.BlockUntil(2)               // the Manager's timeout and the margin
	clk.Advance(lifecycle.AbandonMargin)
	await(t, m.Done())
	r := m.Wait()
	assert.Equal(t, lifecycle.AbandonMargin, r.Duration, "no time passed before the second signal")

	assert.True(t, r.Forced)
	require.ErrorIs(t, r.Err, lifecycle.ErrForced)
	require.ErrorIs(t, r.Err, lifecycle.ErrAbandoned)
	for _, c := range r.Components {
		assert.Equal(t, lifecycle.Immediate, c.Strategy, c.Name)
	}
	assert.True(t, r.Components[1].Abandoned)
	assert.Contains(t, r.String(), "forced to immediate by a second signal")
}

func TestManagerStopEndsListening(t *testing.T) {
	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR1))
	m.Stop() // not listening: no-op
	require.NoError(t, m.Listen())
	m.Stop()
	m.Stop()
	require.NoError(t, m.Listen(), "listening again after Stop is allowed")
	m.Stop()
	select {
	case <-m.Done():
		t.Fatal("Stop must not shut down")
	default:
	}
	// goleak (TestMain) checks that the listening goroutines are gone.
}

func TestManagerDoneAndWait(t *testing.T) {
	m := newManager(t)
	gate := make(chan struct{})
	require.NoError(t, m.AddHook("gate", func(context.Context) error { <-gate; return nil }))
	go func() { _ = m.Shutdown(context.Background()) }()
	select {
	case <-m.Done():
		t.Fatal("done before the hook returned")
	default:
	}
	close(gate)
	<-m.Done()
	r := m.Wait()
	assert.NoError(t, r.Err)
	assert.Len(t, r.Hooks, 1)
	assert.False(t, errors.Is(r.Err, lifecycle.ErrAbandoned))
}
