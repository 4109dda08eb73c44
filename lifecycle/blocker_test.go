package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/lifecycle"
)

// blockingProcessor stands for steadylog's processor under the Block
// overflow policy: a Component, a RecordCounter and a Blocker. Its
// StopBlocking releases the callers blocked in it (closes released) and
// then does what it is told.
type blockingProcessor struct {
	name     string
	j        *journal
	stop     behaviour     // fast, panics or hung
	unstick  chan struct{} // closed to release a hung StopBlocking
	released chan struct{} // closed by the first StopBlocking
	once     sync.Once
	calls    atomic.Int32

	mu       sync.Mutex
	shut     bool
	shutLive bool // the context of Shutdown had not ended when it was called
}

func newBlockingProcessor(name string, j *journal, stop behaviour) *blockingProcessor {
	return &blockingProcessor{name: name, j: j, stop: stop, unstick: make(chan struct{}), released: make(chan struct{})}
}

func (p *blockingProcessor) StopBlocking() {
	p.calls.Add(1)
	if p.j != nil {
		p.j.add(p.name + ".stop_blocking")
	}
	p.once.Do(func() { close(p.released) })
	switch p.stop {
	case panics:
		panic("stop blocking boom")
	case hung:
		<-p.unstick
	}
}

func (p *blockingProcessor) ForceFlush(context.Context) error {
	if p.j != nil {
		p.j.add(p.name + ".flush")
	}
	return nil
}

func (p *blockingProcessor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.shut, p.shutLive = true, ctx.Err() == nil
	p.mu.Unlock()
	if p.j != nil {
		p.j.add(p.name + ".shutdown")
	}
	return nil
}

func (p *blockingProcessor) RecordCounts() (uint64, uint64) { return 0, 0 }

// wasShut reports whether Shutdown was called, and with time left.
func (p *blockingProcessor) wasShut() (shut, live bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shut, p.shutLive
}

// unstickAtEnd releases a hung StopBlocking when the test ends, so that
// goleak sees no goroutine left behind.
func (p *blockingProcessor) unstickAtEnd(t *testing.T) *blockingProcessor {
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(p.unstick) }) })
	return p
}

// blockedProvider stands for an sdklog.LoggerProvider with an OnEmit
// blocked in proc: its Shutdown first waits for that OnEmit to return —
// which happens when proc's StopBlocking is called — bounded by its
// context, and returns the context's error without shutting anything down
// if it ends first (SDK v1.47).
type blockedProvider struct {
	j    *journal
	proc *blockingProcessor
}

func (p *blockedProvider) ForceFlush(context.Context) error {
	p.j.add("provider.flush")
	return nil
}

func (p *blockedProvider) Shutdown(ctx context.Context) error {
	p.j.add("provider.shutdown")
	select {
	case <-p.proc.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// indexOf is the position of call in calls, or -1.
func indexOf(calls []string, call string) int { return slices.Index(calls, call) }

// StopBlocking comes after the flush phase and before the first Shutdown;
// with Immediate, at once, before the Shutdown calls.
func TestBlockerCalledAfterFlushBeforeShutdown(t *testing.T) {
	for _, s := range []lifecycle.Strategy{lifecycle.Flush, lifecycle.Graceful, lifecycle.Immediate} {
		t.Run(s.String(), func(t *testing.T) {
			j := &journal{}
			logs := newFake("logs", j, fast, fast)
			proc := newBlockingProcessor("proc", j, fast)
			metrics := newFake("metrics", j, fast, fast)
			err := lifecycle.Shutdown(ctxWithTimeout(t, 10*time.Second), s, logs, proc, metrics)
			require.NoError(t, err)
			calls := j.list()
			if s == lifecycle.Immediate {
				require.Equal(t, "proc.stop_blocking", calls[0], "%q", calls)
				assert.ElementsMatch(t, []string{"logs.shutdown", "proc.shutdown", "metrics.shutdown"}, calls[1:])
				return
			}
			assert.Equal(t, []string{
				"logs.flush", "proc.flush", "metrics.flush",
				"proc.stop_blocking",
				"logs.shutdown", "proc.shutdown", "metrics.shutdown",
			}, calls)
		})
	}
}

// The context ends during the flush phase: StopBlocking still comes before
// the Shutdown calls, which then start together.
func TestBlockerCalledWhenContextEndsMidFlush(t *testing.T) {
	j := &journal{}
	logs := newFake("logs", j, honours, fast) // drains until the context ends
	proc := newBlockingProcessor("proc", j, fast)
	const deadline = 100 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.Flush,
		lifecycle.Named("logs", logs), lifecycle.Named("proc", proc))
	require.Equal(t, "logs.flush", <-logs.entered)
	clk.Advance(deadline)
	// Every call then returns at once: no margin is waited for.
	o := await(t, res)
	assert.Equal(t, deadline, o.r.Duration)
	err := o.err
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, lifecycle.ErrAbandoned)
	calls := j.list()
	stop := indexOf(calls, "proc.stop_blocking")
	require.GreaterOrEqual(t, stop, 0, "%q", calls)
	assert.Less(t, stop, indexOf(calls, "logs.shutdown"), "%q", calls)
	assert.Less(t, stop, indexOf(calls, "proc.shutdown"), "%q", calls)
	assert.Less(t, indexOf(calls, "logs.flush"), stop, "%q", calls)
}

// A Group's members and the counter given to Counted are Blockers too;
// each Blocker is called once, also when the Group's own Shutdown runs
// after the shutdown's StopBlocking phase or the same processor is both
// the component and its counter.
func TestBlockerInGroupAndCounted(t *testing.T) {
	type counterOnly struct {
		lifecycle.RecordCounter
		lifecycle.Blocker
	}
	for name, build := range map[string]func(j *journal, p *blockingProcessor) lifecycle.Component{
		"Group": func(j *journal, p *blockingProcessor) lifecycle.Component {
			return lifecycle.Group(newFake("provider", j, fast, fast), p)
		},
		"nested Group": func(j *journal, p *blockingProcessor) lifecycle.Component {
			return lifecycle.Group(newFake("provider", j, fast, fast), lifecycle.Group(newFake("other", j, fast, fast), p))
		},
		"Counted": func(j *journal, p *blockingProcessor) lifecycle.Component {
			return lifecycle.Counted(newFake("provider", j, fast, fast), p)
		},
		"Counted of a Group": func(j *journal, p *blockingProcessor) lifecycle.Component {
			return lifecycle.Counted(newFake("provider", j, fast, fast), lifecycle.Group(p).(lifecycle.RecordCounter))
		},
		"Counted, counter only": func(j *journal, p *blockingProcessor) lifecycle.Component {
			return lifecycle.Counted(newFake("provider", j, fast, fast), counterOnly{p, p})
		},
		"Counted of itself": func(_ *journal, p *blockingProcessor) lifecycle.Component {
			return lifecycle.Counted(p, p)
		},
	} {
		t.Run(name, func(t *testing.T) {
			j := &journal{}
			proc := newBlockingProcessor("proc", j, fast)
			_, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, 10*time.Second), lifecycle.Flush, lifecycle.Named("logs", build(j, proc)))
			require.NoError(t, err)
			assert.Equal(t, int32(1), proc.calls.Load(), "StopBlocking called once")
			calls := j.list()
			stop := indexOf(calls, "proc.stop_blocking")
			require.GreaterOrEqual(t, stop, 0, "%q", calls)
			for i, c := range calls {
				if len(c) > 6 && c[len(c)-6:] == ".flush" {
					assert.Less(t, i, stop, "flush before StopBlocking: %q", calls)
				}
				if len(c) > 9 && c[len(c)-9:] == ".shutdown" {
					assert.Greater(t, i, stop, "StopBlocking before any Shutdown: %q", calls)
				}
			}
		})
	}
}

// A Group shut down directly (not by this package's Shutdown) calls
// StopBlocking on its members before their Shutdown, once.
func TestBlockerGroupShutdownDirect(t *testing.T) {
	j := &journal{}
	proc := newBlockingProcessor("proc", j, fast)
	g := lifecycle.Group(&blockedProvider{j: j, proc: proc}, proc)
	ctx := ctxWithTimeout(t, 10*time.Second)
	require.NoError(t, g.Shutdown(ctx))
	assert.Equal(t, []string{"proc.stop_blocking", "provider.shutdown", "proc.shutdown"}, j.list())
	require.NoError(t, g.Shutdown(ctx), "a second Shutdown")
	assert.Equal(t, int32(1), proc.calls.Load(), "StopBlocking called once")
}

// The case Blocker exists for: a provider whose Shutdown waits for an
// OnEmit blocked in its processor. Group(provider, processor) and
// Counted(provider, processor) shut down before their deadline — the fake
// clock never reaches it — and the processor's Shutdown gets a live
// context, through every path.
func TestBlockerUnblocksProviderShutdown(t *testing.T) {
	const deadline = 5 * time.Second
	paths := map[string]func(t *testing.T, clk *clock.Fake, c lifecycle.Component) error{
		"Shutdown": func(t *testing.T, clk *clock.Fake, c lifecycle.Component) error {
			return lifecycle.Shutdown(fakeTimeout(t, clk, deadline), lifecycle.Graceful, c)
		},
		"ShutdownNamed Flush": func(t *testing.T, clk *clock.Fake, c lifecycle.Component) error {
			_, err := lifecycle.ShutdownNamed(fakeTimeout(t, clk, deadline), lifecycle.Flush, lifecycle.Named("logs", c))
			return err
		},
		"Manager": func(t *testing.T, _ *clock.Fake, c lifecycle.Component) error {
			m := newManager(t, lifecycle.WithTimeout(deadline))
			if err := m.Register("logs", c); err != nil { // (not require: off the test's goroutine)
				return err
			}
			return m.Shutdown(context.Background())
		},
		"Group.Shutdown": func(t *testing.T, clk *clock.Fake, c lifecycle.Component) error {
			return c.Shutdown(fakeTimeout(t, clk, deadline))
		},
	}
	for pathName, shut := range paths {
		for _, wrap := range []string{"Group", "Counted"} {
			if pathName == "Group.Shutdown" && wrap != "Group" {
				continue
			}
			t.Run(pathName+"/"+wrap, func(t *testing.T) {
				j := &journal{}
				proc := newBlockingProcessor("proc", j, fast)
				provider := &blockedProvider{j: j, proc: proc}
				var c lifecycle.Component
				if wrap == "Group" {
					c = lifecycle.Group(provider, proc)
				} else {
					c = lifecycle.Counted(provider, proc)
				}
				clk := lifecycle.UseFakeClock(t) // never advanced: the deadline never comes
				errc := make(chan error, 1)
				go func() { errc <- shut(t, clk, c) }()
				require.NoError(t, await(t, errc), "the provider's Shutdown did not wait for the deadline")
				if wrap == "Group" {
					shut, live := proc.wasShut()
					require.True(t, shut, "the processor was shut down: %q", j.list())
					assert.True(t, live, "with time left")
				}
				assert.Less(t, indexOf(j.list(), "proc.stop_blocking"), indexOf(j.list(), "provider.shutdown"), "%q", j.list())
			})
		}
	}
}

// A StopBlocking that panics is recovered and reported; the shutdown goes
// on, and the other Blockers are still called.
func TestBlockerPanics(t *testing.T) {
	j := &journal{}
	bad := newBlockingProcessor("bad", j, panics)
	good := newBlockingProcessor("good", j, fast)
	r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, 10*time.Second), lifecycle.Flush,
		lifecycle.Named("bad", bad), lifecycle.Named("logs", lifecycle.Group(newFake("provider", j, fast, fast), good)))
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 1, "%v", err)
	f := le.Failures[0]
	assert.Equal(t, "bad", f.Name)
	assert.Equal(t, lifecycle.OpStopBlocking, f.Op)
	assert.Contains(t, f.Error(), "bad stop_blocking: steadylog/lifecycle: panicked: stop blocking boom")
	assert.Equal(t, int32(1), good.calls.Load())
	assert.Contains(t, j.list(), "bad.shutdown", "still shut down")
	assert.Contains(t, j.list(), "good.shutdown")
	assert.Error(t, r.Components[0].Err)
	assert.NoError(t, r.Components[1].Err)

	// In a Group, named by its position; the Group's own Shutdown too.
	j2 := &journal{}
	member := newBlockingProcessor("member", j2, panics)
	_, err = lifecycle.ShutdownNamed(ctxWithTimeout(t, 10*time.Second), lifecycle.Immediate,
		lifecycle.Named("logs", lifecycle.Group(newFake("provider", j2, fast, fast), member)))
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	assert.Contains(t, err.Error(), "logs stop_blocking: group member 1: steadylog/lifecycle: panicked: stop blocking boom")
	assert.Contains(t, j2.list(), "member.shutdown")

	direct := newBlockingProcessor("direct", nil, panics)
	err = lifecycle.Group(newFake("provider", nil, fast, fast), direct).Shutdown(context.Background())
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	assert.Contains(t, err.Error(), "group member 1: stop_blocking: steadylog/lifecycle: panicked: stop blocking boom")
}

// A StopBlocking that does not return is abandoned after AbandonMargin:
// the shutdown goes on and ends.
func TestBlockerHungIsAbandoned(t *testing.T) {
	clk := lifecycle.UseFakeClock(t)
	j := &journal{}
	stuck := newBlockingProcessor("stuck", j, hung).unstickAtEnd(t)
	type result struct {
		r   lifecycle.Report
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, 10*time.Second), lifecycle.Immediate,
			lifecycle.Named("stuck", stuck), lifecycle.Named("metrics", newFake("metrics", j, fast, fast)))
		res <- result{r, err}
	}()
	<-stuck.released  // StopBlocking is hung: the first counts are read
	clk.BlockUntil(1) // and the shutdown waits on its margin
	select {
	case <-res:
		t.Fatal("returned before AbandonMargin passed")
	default:
	}
	clk.Advance(lifecycle.AbandonMargin)
	got := <-res
	r, err := got.r, got.err
	t.Logf("%s", r)
	require.ErrorIs(t, err, lifecycle.ErrAbandoned)
	var ce *lifecycle.ComponentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, lifecycle.OpStopBlocking, ce.Op)
	assert.True(t, ce.Abandoned)
	assert.Contains(t, ce.Error(), "stuck stop_blocking: abandoned (no return within")
	assert.True(t, r.Components[0].Abandoned)
	assert.Contains(t, j.list(), "stuck.shutdown", "still shut down")
	assert.Contains(t, j.list(), "metrics.shutdown")

	// The Group's own Shutdown is bounded the same way.
	member := newBlockingProcessor("member", nil, hung).unstickAtEnd(t)
	errc := make(chan error, 1)
	go func() { errc <- lifecycle.Group(member).Shutdown(context.Background()) }()
	<-member.released
	clk.BlockUntil(1)
	clk.Advance(lifecycle.AbandonMargin)
	err = <-errc
	require.ErrorIs(t, err, lifecycle.ErrAbandoned)
	assert.Contains(t, err.Error(), "group member 0: stop_blocking: steadylog/lifecycle: abandoned")
}

func TestOpStopBlockingString(t *testing.T) {
	assert.Equal(t, "stop_blocking", lifecycle.OpStopBlocking.String())
	assert.True(t, errors.Is(&lifecycle.ComponentError{Op: lifecycle.OpStopBlocking, Err: errBoom, Abandoned: true}, lifecycle.ErrAbandoned))
}
