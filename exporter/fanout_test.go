package exporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

func TestNewFanoutInvalid(t *testing.T) {
	_, err := NewFanout()
	assert.ErrorIs(t, err, ErrNoExporters)
	_, err = NewFanout(&fakeExporter{}, nil)
	assert.EqualError(t, err, "steadylog/exporter: fan-out member 1 is nil")
	assert.PanicsWithError(t, ErrNoExporters.Error(), func() { MustFanout() })
}

func TestFanoutSendsEveryBatchToEveryMember(t *testing.T) {
	a, b := &fakeExporter{}, &fakeExporter{}
	f := MustFanout(a, b)
	recs := makeRecords(t, 4)
	require.NoError(t, f.Export(context.Background(), recs))
	require.NoError(t, f.Export(context.Background(), recs[:1]))
	want := [][]string{{"0", "1", "2", "3"}, {"0"}}
	assert.Equal(t, want, a.Batches())
	assert.Equal(t, want, b.Batches())
}

func TestFanoutGivesEachMemberItsOwnSlice(t *testing.T) {
	seen := make(chan *sdklog.Record, 2)
	grab := func(ctx context.Context, records []sdklog.Record) error {
		seen <- &records[0]
		return nil
	}
	f := MustFanout(exportFunc(grab), exportFunc(grab))
	recs := makeRecords(t, 2)
	require.NoError(t, f.Export(context.Background(), recs))
	p1, p2 := <-seen, <-seen
	assert.NotSame(t, &recs[0], p1)
	assert.NotSame(t, &recs[0], p2)
	assert.NotSame(t, p1, p2)
}

// exportFunc adapts a function to an Exporter.
type exportFunc func(ctx context.Context, records []sdklog.Record) error

func (f exportFunc) Export(ctx context.Context, r []sdklog.Record) error { return f(ctx, r) }
func (exportFunc) ForceFlush(context.Context) error                      { return nil }
func (exportFunc) Shutdown(context.Context) error                        { return nil }

func TestFanoutAttributesErrors(t *testing.T) {
	errA := errors.New("a failed")
	f := MustFanout(
		Named("ok", &fakeExporter{}),
		Named("collector", &fakeExporter{export: failing(errA)}),
		&fakeExporter{export: failing(errBackend)},
	)
	err := f.Export(context.Background(), makeRecords(t, 1))
	require.Error(t, err)
	assert.ErrorIs(t, err, errA)
	assert.ErrorIs(t, err, errBackend)
	assert.Contains(t, err.Error(), "exporter 1 (collector): a failed")
	assert.Contains(t, err.Error(), "exporter 2 (*exporter.fakeExporter): backend down")
	assert.NotContains(t, err.Error(), "exporter 0")
	var me *MemberError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, 1, me.Index)
	assert.Equal(t, "collector", me.Name)
}

// hungExporter blocks in Export, ignoring ctx, until release is closed.
type hungExporter struct {
	fakeExporter
	entered chan struct{} // receives once per Export call
	release chan struct{}
	exited  chan struct{} // receives when Export returns
}

func newHungExporter() *hungExporter {
	h := &hungExporter{
		entered: make(chan struct{}, 16),
		release: make(chan struct{}),
		exited:  make(chan struct{}, 16),
	}
	h.export = func(context.Context, int) error {
		h.entered <- struct{}{}
		<-h.release
		h.exited <- struct{}{}
		return nil
	}
	return h
}

// waitIdle waits until the fan-out members at idx have returned from
// Export (their results are then delivered).
func waitIdle(t *testing.T, f sdklog.Exporter, idx ...int) {
	t.Helper()
	fo := f.(*fanout)
	for _, i := range idx {
		require.Eventually(t, func() bool { return !fo.members[i].busy.Load() }, 10*time.Second, time.Millisecond)
	}
}

// TestFanoutIsolatesPanicAndHang is the fan-out's reason to exist: one
// member panics, one hangs ignoring its context, and the healthy one still
// receives every batch, with Export bounded by ctx.
func TestFanoutIsolatesPanicAndHang(t *testing.T) {
	panicking := &fakeExporter{export: func(context.Context, int) error { panic("exporter bug") }}
	hung := newHungExporter()
	received := make(chan []string, 4)
	healthy := &fakeExporter{}
	healthy.export = func(context.Context, int) error {
		b := healthy.Batches()
		received <- b[len(b)-1]
		return nil
	}
	f := MustFanout(Named("panics", panicking), Named("hangs", hung), Named("healthy", healthy))
	recs := makeRecords(t, 3)

	// First batch: Export must return once ctx is done, although the hung
	// member never returns.
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error, 1)
	go func() { returned <- f.Export(ctx, recs) }()
	assert.Equal(t, []string{"0", "1", "2"}, <-received, "the healthy member got the batch")
	<-hung.entered
	waitIdle(t, f, 0, 2) // the panicking and the healthy member have returned
	cancel()
	err := <-returned
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrPanic)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "exporter 0 (panics): steadylog/exporter: Export panicked: exporter bug")
	assert.Contains(t, err.Error(), "exporter 1 (hangs): did not finish: context canceled")
	assert.NotContains(t, err.Error(), "healthy")

	// Second batch, with a deadline, while the hung member is still busy:
	// it is skipped, never called concurrently with itself.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	err = f.Export(ctx2, recs[:2])
	assert.Equal(t, []string{"0", "1"}, <-received)
	assert.ErrorIs(t, err, ErrBusy)
	assert.Contains(t, err.Error(), "exporter 1 (hangs): "+ErrBusy.Error())
	assert.Equal(t, 1, hung.Calls())
	assert.Equal(t, 2, panicking.Calls(), "a member that panicked is still called")

	// Once the hung member returns, it takes batches again.
	close(hung.release)
	<-hung.exited
	require.Eventually(t, func() bool {
		_ = f.Export(context.Background(), recs[:1])
		<-received
		return hung.Calls() == 2
	}, 10*time.Second, time.Millisecond)
	<-hung.exited
}

func TestFanoutReturnsByDeadlineWithHungMember(t *testing.T) {
	hung := newHungExporter()
	healthy := &fakeExporter{}
	f := MustFanout(hung, healthy)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := f.Export(ctx, makeRecords(t, 1))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var me *MemberError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, 0, me.Index)
	require.Eventually(t, func() bool { return healthy.Calls() == 1 }, 10*time.Second, time.Millisecond)
	close(hung.release)
	<-hung.exited
}

func TestFanoutFlushAndShutdownIsolation(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hangs := func(context.Context) error { <-release; return nil }
	panics := func(context.Context) error { panic("boom") }
	healthy := &fakeExporter{}
	f := MustFanout(
		&fakeExporter{flush: panics, stop: panics},
		&fakeExporter{flush: hangs, stop: hangs},
		healthy,
	)
	for _, call := range []func(context.Context) error{f.ForceFlush, f.Shutdown} {
		// The deadline bounds the call despite the hung member; it is long
		// enough for the others to finish on a loaded machine.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := call(ctx)
		cancel()
		assert.ErrorIs(t, err, ErrPanic)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "exporter 1 (*exporter.fakeExporter): did not finish")
		assert.NotContains(t, err.Error(), "exporter 2")
	}
	fl, sd := healthy.Counts()
	assert.Equal(t, 1, fl)
	assert.Equal(t, 1, sd)
}

func TestFanoutFlushAndShutdownAllSucceed(t *testing.T) {
	a, b := &fakeExporter{}, &fakeExporter{}
	f := MustFanout(a, b)
	require.NoError(t, f.ForceFlush(context.Background()))
	require.NoError(t, f.Shutdown(context.Background()))
	for _, e := range []*fakeExporter{a, b} {
		fl, sd := e.Counts()
		assert.Equal(t, 1, fl)
		assert.Equal(t, 1, sd)
	}
}
