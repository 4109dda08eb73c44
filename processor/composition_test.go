package processor_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

// Tests of how exporters composed with package exporter (nested fan-outs,
// Named, failover) become destinations, through a real LoggerProvider.

// failFirstExporter fails its first n Export calls with a transient error,
// then delivers to its bodyExporter.
type failFirstExporter struct {
	*bodyExporter
	failures atomic.Int64 // failures left
	failed   atomic.Int64
}

func newFailFirst(n, want int) *failFirstExporter {
	e := &failFirstExporter{bodyExporter: newBodyExporter(want)}
	e.failures.Store(int64(n))
	return e
}

func (e *failFirstExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.failures.Add(-1) >= 0 {
		e.failed.Add(1)
		return errBackend
	}
	return e.bodyExporter.Export(ctx, recs)
}

// emitThrough emits n records with bodies "0", "1", … through a real
// LoggerProvider that uses p, then shuts the provider down, which drains
// p, and returns p's final Stats with the identity checked for the store
// and every destination.
func emitThrough(t *testing.T, p *processor.Processor, n int) processor.Stats {
	t.Helper()
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := lp.Logger("composition")
	for i := range n {
		var r log.Record
		r.SetBody(attribute.StringValue(strconv.Itoa(i)))
		r.SetSeverity(log.SeverityInfo)
		logger.Emit(context.Background(), r)
	}
	within(t, 10*time.Second, "LoggerProvider.Shutdown", func() {
		require.NoError(t, lp.Shutdown(context.Background()))
	})
	s := p.Stats()
	invariant(t, s)
	return s
}

// requireOnce asserts that e received each of the n bodies exactly once.
func requireOnce(t *testing.T, e *bodyExporter, n int) {
	t.Helper()
	dups, distinct := e.duplicates()
	require.Empty(t, dups, "records received more than once")
	require.Equal(t, n, distinct)
	require.Equal(t, n, e.received())
}

// requireAllExported asserts that every destination exported all n records
// and dropped none.
func requireAllExported(t *testing.T, s processor.Stats, n int) {
	t.Helper()
	for _, d := range s.Destinations {
		assert.Equal(t, uint64(n), d.Received, "destination %q", d.Name)
		assert.Equal(t, uint64(n), d.Exported, "destination %q", d.Name)
		assert.Zero(t, d.TotalDropped(), "destination %q: %v", d.Name, d.Dropped)
	}
}

func names(s processor.Stats) []string {
	out := make([]string, len(s.Destinations))
	for i, d := range s.Destinations {
		out[i] = d.Name
	}
	return out
}

// Item 5: the members of a nested fan-out are destinations of their own.
// Before, the inner fan-out was one destination, and each of flaky's three
// failures re-sent the batch to healthy: 40 deliveries of 10 records.
func TestNestedFanoutMembersAreIndependentDestinations(t *testing.T) {
	healthy, flaky, other := newBodyExporter(10), newFailFirst(3, 10), newBodyExporter(10)
	p, err := processor.New(exporter.MustFanout(exporter.MustFanout(healthy, flaky), other),
		append(quiet(), processor.WithRetryBackoff(time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)

	require.Len(t, s.Destinations, 3, "one destination per leaf")
	requireOnce(t, healthy, 10)
	requireOnce(t, flaky.bodyExporter, 10)
	requireOnce(t, other, 10)
	assert.Equal(t, int64(3), flaky.failed.Load())
	requireAllExported(t, s, 10)
}

// Deep nesting, Named around a fan-out (at the top and inside), and a
// failover member: each leaf is a destination, in order, and receives each
// record once; the failover is one destination whose fallback delivers.
func TestDeepNestedFanoutFlattensInOrder(t *testing.T) {
	a, b, c, d := newBodyExporter(10), newBodyExporter(10), newBodyExporter(10), newBodyExporter(10)
	primary, fallback := newFailFirst(1000, 0), newBodyExporter(10)
	exp := exporter.Named("all", exporter.MustFanout(
		exporter.MustFanout(exporter.MustFanout(exporter.Named("a", a)), exporter.Named("group", exporter.MustFanout(b, exporter.Named("c", c)))),
		exporter.MustFailover(primary, exporter.Named("fallback", fallback)),
		exporter.Named("d", d),
	))
	p, err := processor.New(exp, quiet()...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)

	// b has no name: its position; the failover has none either.
	assert.Equal(t, []string{"a", "1", "c", "3", "d"}, names(s))
	for _, e := range []*bodyExporter{a, b, c, fallback, d} {
		requireOnce(t, e, 10)
	}
	assert.Zero(t, primary.received())
	requireAllExported(t, s, 10)
}

// A fan-out inside another decorator is one exporter: New does not look
// into a NewBreaker, as the godoc says.
func TestFanoutInsideBreakerIsOneDestination(t *testing.T) {
	a, b := newBodyExporter(10), newBodyExporter(10)
	p, err := processor.New(exporter.MustBreaker(exporter.MustFanout(a, b), breaker.MustNew(breaker.Config{})), quiet()...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)
	require.Len(t, s.Destinations, 1)
	requireOnce(t, a, 10)
	requireOnce(t, b, 10)
	requireAllExported(t, s, 10)
}

// Item 5, NewWithDestinations: a fan-out as a Destination's Exporter is
// refused (its members would share fate), Named or not; the error says
// what to do.
func TestNewWithDestinationsRefusesFanout(t *testing.T) {
	a, b, c := newBodyExporter(0), newBodyExporter(0), newBodyExporter(0)
	for name, exp := range map[string]sdklog.Exporter{
		"fanout":       exporter.MustFanout(a, b),
		"named fanout": exporter.Named("pair", exporter.MustFanout(a, b)),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := processor.NewWithDestinations([]processor.Destination{{Exporter: c}, {Name: "pair", Exporter: exp}}, quiet()...)
			require.ErrorIs(t, err, processor.ErrInvalidOption)
			assert.Contains(t, err.Error(), "destination 1: Exporter is a fan-out")
			require.Nil(t, p)
		})
	}
}

// A nil member anywhere in a nested fan-out is refused when the fan-out is
// built, so it never reaches the processor.
func TestNilMemberInNestedFanout(t *testing.T) {
	var typedNil *bodyExporter
	_, err := exporter.NewFanout(exporter.MustFanout(newBodyExporter(0)), typedNil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "member 1 is nil")
	assert.Panics(t, func() { exporter.MustFanout(exporter.MustFanout(newBodyExporter(0), nil)) })
}

// Item 6: one exporter used twice is refused. A fan-out refuses it when
// built (its Export would run the exporter concurrently with itself), so
// New never sees MustFanout(e, e); NewWithDestinations refuses two
// destinations sharing an exporter, directly or inside a decorator.
func TestSharedExporterIsRefused(t *testing.T) {
	e, x := newBodyExporter(0), newBodyExporter(0)
	_, err := exporter.NewFanout(e, e)
	require.ErrorIs(t, err, exporter.ErrDuplicateExporter)
	assert.Panics(t, func() { exporter.MustFanout(e, e) })
	_, err = exporter.NewFanout(exporter.MustFanout(e, x), exporter.Named("again", e))
	require.ErrorIs(t, err, exporter.ErrDuplicateExporter)

	for name, dests := range map[string][]processor.Destination{
		"same exporter":            {{Name: "a", Exporter: e}, {Name: "b", Exporter: e}},
		"named and bare":           {{Exporter: exporter.Named("a", e)}, {Exporter: e}},
		"inside a failover":        {{Exporter: exporter.MustFailover(x, e)}, {Exporter: e}},
		"behind breakers":          {{Exporter: e, Breaker: breaker.MustNew(breaker.Config{})}, {Exporter: e, Breaker: breaker.MustNew(breaker.Config{})}},
		"same wrapper value twice": {{Exporter: exporter.Named("n", x)}, {Exporter: e}, {Exporter: exporter.Named("m", x)}},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := processor.NewWithDestinations(dests, quiet()...)
			require.ErrorIs(t, err, processor.ErrInvalidOption)
			require.ErrorIs(t, err, exporter.ErrDuplicateExporter)
			assert.Contains(t, err.Error(), "must not share an exporter")
			require.Nil(t, p)
		})
	}
}

// funcExporter is an exporter of a func type: not comparable, so never
// reported as shared, and comparing it must not panic.
type funcExporter func(context.Context, []sdklog.Record) error

func (f funcExporter) Export(ctx context.Context, recs []sdklog.Record) error { return f(ctx, recs) }
func (funcExporter) ForceFlush(context.Context) error                         { return nil }
func (funcExporter) Shutdown(context.Context) error                           { return nil }

// holderExporter is of a comparable struct type, but holds a func in an
// interface field: == on two of them would panic.
type holderExporter struct{ inner any }

func (h holderExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	return h.inner.(funcExporter)(ctx, recs)
}
func (holderExporter) ForceFlush(context.Context) error { return nil }
func (holderExporter) Shutdown(context.Context) error   { return nil }

func TestNonComparableExportersAreAccepted(t *testing.T) {
	a, b, c := newBodyExporter(10), newBodyExporter(10), newBodyExporter(10)
	fa, fb := funcExporter(a.Export), funcExporter(b.Export)
	hc := holderExporter{inner: funcExporter(c.Export)}
	require.NotPanics(t, func() {
		require.NoError(t, exporter.CheckDistinct(fa, fb, hc, hc))
	})
	p, err := processor.NewWithDestinations([]processor.Destination{{Exporter: fa}, {Exporter: fb}, {Exporter: hc}}, quiet()...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)
	requireOnce(t, a, 10)
	requireOnce(t, b, 10)
	requireOnce(t, c, 10)
	requireAllExported(t, s, 10)
}

// Item 7: a panicking primary error handler of a failover does not turn a
// delivered batch into a failure. Before, the panic escaped Export and the
// processor counted exported=0, export_failed=10 though the fallback held
// all ten records.
func TestFailoverPanickingPrimaryErrorHandlerCountsExported(t *testing.T) {
	primary, fallback := newFailFirst(1000, 0), newBodyExporter(10)
	var handled atomic.Int64
	exp := exporter.MustFailover(primary, fallback, exporter.WithPrimaryErrorHandler(func(err error) {
		handled.Add(1)
		panic("handler bug")
	}))
	p, err := processor.New(exp, quiet()...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)

	requireOnce(t, fallback, 10)
	assert.Positive(t, handled.Load(), "the handler was called")
	assert.Equal(t, uint64(10), s.Exported)
	assert.Zero(t, s.TotalDropped(), "%v", s.Dropped)
	requireAllExported(t, s, 10)
}

// Item 10: a default name never collides with a given or another default
// name; given Names that collide are still an error.
func TestDefaultDestinationNamesNeverCollide(t *testing.T) {
	a, b := newBodyExporter(10), newBodyExporter(10)
	// The case: b's position "1" is a's name.
	p, err := processor.New(exporter.MustFanout(exporter.Named("1", a), b), quiet()...)
	require.NoError(t, err)
	s := emitThrough(t, p, 10)
	assert.Equal(t, []string{"1", "1#1"}, names(s))
	requireOnce(t, a, 10)
	requireOnce(t, b, 10)
	requireAllExported(t, s, 10)

	for name, tc := range map[string]struct {
		dests []processor.Destination
		want  []string
	}{
		"position taken by a Name": {
			[]processor.Destination{{Name: "1", Exporter: newBodyExporter(0)}, {Exporter: newBodyExporter(0)}},
			[]string{"1", "1#1"},
		},
		"exporter name taken by a later Name": {
			[]processor.Destination{{Exporter: exporter.Named("a", newBodyExporter(0))}, {Name: "a", Exporter: newBodyExporter(0)}},
			[]string{"a#0", "a"},
		},
		"suffixed name taken too": {
			[]processor.Destination{
				{Exporter: exporter.Named("a", newBodyExporter(0))},
				{Exporter: exporter.Named("a", newBodyExporter(0))},
				{Name: "a#1", Exporter: newBodyExporter(0)},
			},
			[]string{"a", "a#1#2", "a#1"},
		},
		"an exporter's name before a position": {
			[]processor.Destination{{Exporter: newBodyExporter(0)}, {Exporter: exporter.Named("0", newBodyExporter(0))}},
			[]string{"0#0", "0"},
		},
		"exporter name equal to another's suffixed name": {
			[]processor.Destination{
				{Exporter: exporter.Named("x", newBodyExporter(0))},
				{Exporter: exporter.Named("x", newBodyExporter(0))},
				{Exporter: exporter.Named("x#1", newBodyExporter(0))},
			},
			[]string{"x", "x#1", "x#1#2"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := processor.NewWithDestinations(tc.dests, quiet()...)
			require.NoError(t, err)
			s := emitThrough(t, p, 3)
			assert.Equal(t, tc.want, names(s))
			requireAllExported(t, s, 3)
		})
	}

	p, err = processor.NewWithDestinations([]processor.Destination{
		{Name: "x", Exporter: newBodyExporter(0)}, {Exporter: newBodyExporter(0)}, {Name: "x", Exporter: newBodyExporter(0)},
	}, quiet()...)
	require.ErrorIs(t, err, processor.ErrInvalidOption)
	assert.Contains(t, err.Error(), `destinations 0 and 2 are both named "x"`)
	require.Nil(t, p)
}
