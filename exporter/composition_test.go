package exporter_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
)

// plainExporter counts its calls and fails when fail is set.
type plainExporter struct {
	fail      bool
	records   atomic.Int64
	shutdowns atomic.Int64
}

func (e *plainExporter) Export(_ context.Context, recs []sdklog.Record) error {
	if e.fail {
		return errors.New("down")
	}
	e.records.Add(int64(len(recs)))
	return nil
}
func (e *plainExporter) ForceFlush(context.Context) error { return nil }
func (e *plainExporter) Shutdown(context.Context) error   { e.shutdowns.Add(1); return nil }

// valueExporter is a comparable value type: two equal values are the same
// exporter.
type valueExporter struct{ id int }

func (valueExporter) Export(context.Context, []sdklog.Record) error { return nil }
func (valueExporter) ForceFlush(context.Context) error              { return nil }
func (valueExporter) Shutdown(context.Context) error                { return nil }

// funcExporter is not comparable.
type funcExporter func(context.Context, []sdklog.Record) error

func (f funcExporter) Export(ctx context.Context, recs []sdklog.Record) error { return f(ctx, recs) }
func (funcExporter) ForceFlush(context.Context) error                         { return nil }
func (funcExporter) Shutdown(context.Context) error                           { return nil }

// holder is of a comparable type but holds a func: == on it panics.
type holder struct{ inner any }

func (holder) Export(context.Context, []sdklog.Record) error { return nil }
func (holder) ForceFlush(context.Context) error              { return nil }
func (holder) Shutdown(context.Context) error                { return nil }

// FanoutMembers flattens nested fan-outs, sees through Named, and does not
// look into other decorators.
func TestFanoutMembersFlattensNestedFanouts(t *testing.T) {
	a, b, c, d := &plainExporter{}, &plainExporter{}, &plainExporter{}, &plainExporter{}
	na := exporter.Named("a", a)
	fo := exporter.MustFailover(c, d)
	members, ok := exporter.FanoutMembers(exporter.Named("top", exporter.MustFanout(
		exporter.MustFanout(na, exporter.Named("inner", exporter.MustFanout(b))),
		fo,
	)))
	require.True(t, ok)
	assert.Equal(t, []sdklog.Exporter{na, b, fo}, members)

	members, ok = exporter.FanoutMembers(exporter.MustBreaker(exporter.MustFanout(a, b), breaker.MustNew(breaker.Config{})))
	assert.False(t, ok, "a fan-out behind a breaker is one exporter")
	assert.Nil(t, members)
	_, ok = exporter.FanoutMembers(na)
	assert.False(t, ok)
}

// One exporter used twice, at any depth, is refused: a fan-out would run
// its Export concurrently with itself, and call its Shutdown twice.
func TestCheckDistinct(t *testing.T) {
	e, x := &plainExporter{}, &plainExporter{}
	for name, tc := range map[string]struct {
		exps []sdklog.Exporter
		at   string // the second place, in the message
	}{
		"twice":              {[]sdklog.Exporter{e, e}, "at 0 and at 1"},
		"in a nested fanout": {[]sdklog.Exporter{x, exporter.MustFanout(&plainExporter{}, e), e}, "at 1.1 and at 2"},
		"named":              {[]sdklog.Exporter{exporter.Named("n", e), e}, "at 0 and at 1"},
		"behind breakers": {[]sdklog.Exporter{
			exporter.MustBreaker(e, breaker.MustNew(breaker.Config{})), exporter.MustBreaker(e, breaker.MustNew(breaker.Config{})),
		}, "at 0 and at 1"},
		"fallback and member": {[]sdklog.Exporter{exporter.MustFailover(x, e), e}, "at 0.1 and at 1"},
		"equal values":        {[]sdklog.Exporter{valueExporter{1}, valueExporter{2}, valueExporter{1}}, "at 0 and at 2"},
	} {
		t.Run(name, func(t *testing.T) {
			err := exporter.CheckDistinct(tc.exps...)
			require.ErrorIs(t, err, exporter.ErrDuplicateExporter)
			assert.Contains(t, err.Error(), tc.at)
			_, err = exporter.NewFanout(tc.exps...)
			require.ErrorIs(t, err, exporter.ErrDuplicateExporter)
			assert.Panics(t, func() { exporter.MustFanout(tc.exps...) })
		})
	}

	// Not comparable: never reported, never a panic.
	f := funcExporter(func(context.Context, []sdklog.Record) error { return nil })
	h := holder{inner: f}
	require.NotPanics(t, func() {
		require.NoError(t, exporter.CheckDistinct(f, f, h, h, exporter.Named("f", f), nil))
		_, err := exporter.NewFanout(f, f, h, h)
		require.NoError(t, err)
	})
	require.NoError(t, exporter.CheckDistinct(e, x, exporter.MustFanout(&plainExporter{}), valueExporter{1}, valueExporter{2}))
}

// NewFailover refuses one exporter as both primary and fallback: its Shutdown
// would be called twice.
func TestFailoverRefusesTheSameExporterTwice(t *testing.T) {
	e, x := &plainExporter{}, &plainExporter{}
	assert.Panics(t, func() { exporter.MustFailover(e, e) })
	assert.Panics(t, func() { exporter.MustFailover(exporter.MustFanout(e, x), exporter.Named("e", e)) })
	f := exporter.MustFailover(e, x)
	require.NoError(t, f.Shutdown(context.Background()))
	assert.Equal(t, int64(1), e.shutdowns.Load())
}

// A panicking primary error handler does not make a delivered batch fail.
func TestFailoverPanickingPrimaryErrorHandler(t *testing.T) {
	primary, fallback := &plainExporter{fail: true}, &plainExporter{}
	var called atomic.Int64
	f := exporter.MustFailover(primary, fallback, exporter.WithPrimaryErrorHandler(func(err error) {
		called.Add(1)
		panic(err)
	}))
	recs := make([]sdklog.Record, 10)
	require.NotPanics(t, func() {
		require.NoError(t, f.Export(context.Background(), recs))
	})
	assert.Equal(t, int64(1), called.Load())
	assert.Equal(t, int64(10), fallback.records.Load())
}
