package processor

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/recordtest"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// spoolExporter keeps a description of every record it exports (every
// field an exporter reads, resource and scope included), in order, and
// can be told to hang, ignoring its context, until gate is closed.
type spoolExporter struct {
	mu   sync.Mutex
	keys []string
	gate chan struct{}
}

func (e *spoolExporter) Export(_ context.Context, recs []sdklog.Record) error {
	if e.gate != nil {
		<-e.gate
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range recs {
		e.keys = append(e.keys, recordKey(&recs[i]))
	}
	return nil
}

func (e *spoolExporter) ForceFlush(context.Context) error { return nil }
func (e *spoolExporter) Shutdown(context.Context) error   { return nil }

func (e *spoolExporter) exported() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.keys...)
}

func (e *spoolExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.keys)
}

// recordKey describes every field of r an exporter reads.
func recordKey(r *sdklog.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "body=%s:%v ts=%d obs=%d sev=%d text=%q event=%q trace=%s span=%s flags=%d attrs=[",
		r.Body().Type(), r.Body().String(), r.Timestamp().UnixNano(), r.ObservedTimestamp().UnixNano(), r.Severity(), r.SeverityText(),
		r.EventName(), r.TraceID(), r.SpanID(), r.TraceFlags())
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		fmt.Fprintf(&b, "%s:%s=%v;", kv.Key, kv.Value.Type(), kv.Value.String())
		return true
	})
	fmt.Fprintf(&b, "] dropped=%d", r.DroppedAttributes())
	if res := r.Resource(); res != nil {
		fmt.Fprintf(&b, " resource=%s@%s", res.Encoded(attribute.DefaultEncoder()), res.SchemaURL())
	}
	sc := r.InstrumentationScope()
	fmt.Fprintf(&b, " scope=%s@%s@%s{%s}", sc.Name, sc.Version, sc.SchemaURL, sc.Attributes.Encoded(attribute.DefaultEncoder()))
	return b.String()
}

// spoolProvider is a LoggerProvider feeding p (and a capture of what it
// emits, when capture is set), with a resource and a scope, as a service
// has one.
func spoolProvider(p sdklog.Processor, capture *recordtest.Capture) (*sdklog.LoggerProvider, log.Logger) {
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "spool-test"), attribute.Int("service.instance", 7))
	opts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if capture != nil {
		opts = append(opts, sdklog.WithProcessor(capture))
	}
	if p != nil {
		opts = append(opts, sdklog.WithProcessor(p))
	}
	lp := sdklog.NewLoggerProvider(opts...)
	lg := lp.Logger("github.com/steadylog/steadylog/processor/spooltest",
		log.WithInstrumentationVersion("v1.2.3"), log.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		log.WithInstrumentationAttributes(attribute.String("scope.k", "v")))
	return lp, lg
}

// spoolBase is the timestamp of the first record spoolEmit emits.
var spoolBase = time.Date(2026, 1, 2, 15, 4, 5, 999, time.UTC)

// spoolEmit emits records from..to-1: every field set, nested values in
// body and attributes, a trace context.
func spoolEmit(lg log.Logger, from, to int) {
	for i := from; i < to; i++ {
		var r log.Record
		r.SetEventName("spool.test")
		r.SetTimestamp(spoolBase.Add(time.Duration(i) * time.Millisecond))
		r.SetObservedTimestamp(spoolBase.Add(time.Duration(i)*time.Millisecond + time.Microsecond))
		r.SetSeverity(log.SeverityWarn2)
		r.SetSeverityText("WARN2")
		r.SetBody(attribute.MapValue(attribute.Int("n", i), attribute.String("msg", fmt.Sprintf("record %d", i)),
			attribute.Slice("list", attribute.BoolValue(true), attribute.Float64Value(1.5), attribute.ByteSliceValue([]byte{1, 2, byte(i)})),
			attribute.StringSlice("typed", []string{"a", "b"})))
		r.AddAttributes(attribute.Int("i", i), attribute.String("s", "value"),
			attribute.Map("nested", attribute.String("a", "b"), attribute.Slice("deep", attribute.MapValue(attribute.Int64("x", int64(i))))))
		ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    trace.TraceID{1, 2, 3, byte(i)},
			SpanID:     trace.SpanID{4, 5, byte(i)},
			TraceFlags: trace.FlagsSampled,
		}))
		lg.Emit(ctx, r)
	}
}

// expectedKeys returns the keys of records from..to-1 as a LoggerProvider
// builds them, for a process that cannot capture them (a killed child).
func expectedKeys(from, to int) []string {
	var capture recordtest.Capture
	lp, lg := spoolProvider(nil, &capture)
	spoolEmit(lg, from, to)
	_ = lp.Shutdown(context.Background())
	recs := capture.Records()
	keys := make([]string, len(recs))
	for i := range recs {
		keys[i] = recordKey(&recs[i])
	}
	return keys
}

// spoolWritten reports whether the spool holds every record received.
func spoolWritten(p *Processor) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sp.next >= p.st.nextSeq
}

// errorLog collects the reports of an error handler.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) handle(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

// first returns the first error reported, or nil.
func (l *errorLog) first() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs[0]
}

func (l *errorLog) matching(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if strings.Contains(err.Error(), s) {
			n++
		}
	}
	return n
}

func spoolOpts(dir string, errs *errorLog, extra ...Option) []Option {
	return append([]Option{
		WithSpool(dir, WithSpoolSyncInterval(0)),
		WithExportInterval(10 * time.Millisecond),
		WithoutDropAlerts(),
		WithErrorHandler(errs.handle),
	}, extra...)
}

// TestSpoolRestartResumesEachDestination: a Shutdown whose deadline passes
// while one destination hangs leaves that destination's records in the
// spool; the next processor on the same directory delivers them,
// identical, to that destination only: the healthy one, which had
// exported everything, gets nothing again.
func TestSpoolRestartResumesEachDestination(t *testing.T) {
	const n = 1000
	dir := filepath.Join(t.TempDir(), "spool")
	var errs errorLog
	healthy, hung := &spoolExporter{}, &spoolExporter{gate: make(chan struct{})}
	p, err := NewWithDestinations([]Destination{{Name: "healthy", Exporter: healthy}, {Name: "hung", Exporter: hung}},
		spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	var capture recordtest.Capture
	lp, lg := spoolProvider(p, &capture)
	spoolEmit(lg, 0, n)
	require.Eventually(t, func() bool { return healthy.count() == n }, 10*time.Second, time.Millisecond)
	requireInvariant(t, p.Stats())

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, lp.Shutdown(ctx), context.DeadlineExceeded)
	close(hung.gate) // its late result is ignored
	waitWorkers(p)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Received)
	require.Equal(t, uint64(0), s.Exported, "the hung destination exported nothing in time: %v", s)
	require.Equal(t, uint64(0), s.TotalDropped(), "nothing is dropped: it stays in the spool: %v", s)
	require.Equal(t, n, s.Queued)
	require.Equal(t, uint64(n), s.Spool.LeftForNextStart)
	require.Equal(t, uint64(n), p.RecordsLeft())
	require.Equal(t, uint64(n), s.Destinations[0].Exported)
	require.Equal(t, uint64(0), s.Destinations[0].LeftForNextStart)
	require.Equal(t, uint64(n), s.Destinations[1].LeftForNextStart)
	require.Equal(t, n, s.Destinations[1].Queued)
	want := make([]string, 0, n)
	for _, r := range capture.Records() {
		want = append(want, recordKey(&r))
	}
	require.Equal(t, want, healthy.exported())

	// The next start, on the same directory and destination names.
	healthy2, hung2 := &spoolExporter{}, &spoolExporter{}
	p2, err := NewWithDestinations([]Destination{{Name: "healthy", Exporter: healthy2}, {Name: "hung", Exporter: hung2}},
		spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	s = p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Spool.Recovered)
	require.Equal(t, uint64(n), s.Received)
	require.Equal(t, uint64(0), s.Destinations[0].Recovered)
	require.Equal(t, uint64(n), s.Destinations[1].Recovered)
	require.Equal(t, uint64(n), s.Destinations[1].Received)
	require.Eventually(t, func() bool { return hung2.count() == n }, 10*time.Second, time.Millisecond)
	require.Equal(t, want, hung2.exported(), "every record, identical, in order")
	require.NoError(t, p2.Shutdown(context.Background()))
	s = p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported)
	require.Equal(t, uint64(0), s.Spool.LeftForNextStart)
	require.LessOrEqual(t, uint64(healthy2.count()), s.Spool.Resent, "only what Resent counts comes again")
	require.Zero(t, healthy2.count(), "the healthy destination had acknowledged everything")

	// Nothing is left for a third start.
	p3, err := NewWithDestinations([]Destination{{Name: "healthy", Exporter: &spoolExporter{}}, {Name: "hung", Exporter: &spoolExporter{}}},
		spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	require.Equal(t, uint64(0), p3.Stats().Spool.Recovered)
	require.NoError(t, p3.Shutdown(context.Background()))
	require.Zero(t, errs.matching("spool"), "no spool error: %v", errs.errs)
}

// TestSpoolLocked: a second processor on a directory in use fails with
// ErrSpoolLocked; after the first one's Shutdown it succeeds.
func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	var errs errorLog
	p1, err := New(&spoolExporter{}, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	_, err = New(&spoolExporter{}, spoolOpts(dir, &errs)...)
	require.ErrorIs(t, err, ErrSpoolLocked)
	require.ErrorIs(t, err, segmentlog.ErrLocked)
	require.NoError(t, p1.Shutdown(context.Background()))
	p2, err := New(&spoolExporter{}, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	requireInvariant(t, p2.Stats())
	require.NoError(t, p2.Shutdown(context.Background()))
}

// TestSpoolOptions: invalid spool options make New fail with
// ErrInvalidOption.
func TestSpoolOptions(t *testing.T) {
	exp := &spoolExporter{}
	for name, opt := range map[string]Option{
		"empty dir":     WithSpool(""),
		"nil option":    WithSpool(t.TempDir(), nil),
		"negative sync": WithSpool(t.TempDir(), WithSpoolSyncInterval(-1)),
		"zero bytes":    WithSpool(t.TempDir(), WithSpoolMaxBytes(0)),
		"bytes < 2 seg": WithSpool(t.TempDir(), WithSpoolMaxBytes(4<<10)),
		"negative age":  WithSpool(t.TempDir(), WithSpoolMaxAge(-time.Second)),
		"tiny segment":  WithSpool(t.TempDir(), WithSpoolSegmentSize(100)),
	} {
		_, err := New(exp, opt)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}
}

// TestSpoolUnopenable: a spool that cannot be opened for a reason of the
// disk (here: its path is a file) leaves the processor working from
// memory, reported once and in Stats.
func TestSpoolUnopenable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	var errs errorLog
	exp := &spoolExporter{}
	p, err := New(exp, spoolOpts(path, &errs)...)
	require.NoError(t, err)
	lp, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, 10)
	require.NoError(t, lp.Shutdown(context.Background()))
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(10), s.Exported)
	require.True(t, s.Spool.Degraded)
	require.GreaterOrEqual(t, s.Spool.Errors, uint64(1), "one, and one more per retry (each second)")
	require.Contains(t, s.Spool.LastError, "working from memory")
	require.Equal(t, 1, errs.matching("could not be opened"))
}

// TestSpoolSpillsBeyondTheBudget: with a byte budget far smaller than the
// backlog and a hung exporter, records leave memory for the spool instead
// of being dropped; memory stays within the budget while the spool grows;
// once the exporter answers, every record is delivered, in order, once.
func TestSpoolSpillsBeyondTheBudget(t *testing.T) {
	const n, burst = 3000, 25
	const budget = 64 << 10
	var errs errorLog
	exp := &spoolExporter{gate: make(chan struct{})}
	p, err := New(exp, spoolOpts(t.TempDir(), &errs, WithMaxQueueBytes(budget))...)
	require.NoError(t, err)
	var capture recordtest.Capture
	lp, lg := spoolProvider(p, &capture)
	for i := 0; i < n; i += burst {
		spoolEmit(lg, i, i+burst)
		// The spooler writes within its coalescing delay; a burst fits
		// the budget meanwhile.
		require.Eventually(t, func() bool {
			s := p.Stats()
			return s.Spool.Records == uint64(i+burst)
		}, 10*time.Second, time.Millisecond)
		s := p.Stats()
		requireInvariant(t, s)
		require.LessOrEqual(t, s.QueuedBytes, int64(budget), "memory stays within the budget: %v", s)
		require.Zero(t, s.TotalDropped(), "%v", s)
	}
	s := p.Stats()
	require.Less(t, s.QueuedBytes+s.InFlightBytes, int64(n)*500, "the backlog is not in memory: %v", s)
	close(exp.gate)
	require.Eventually(t, func() bool { return exp.count() == n }, 20*time.Second, time.Millisecond)
	want := make([]string, 0, n)
	for _, r := range capture.Records() {
		want = append(want, recordKey(&r))
	}
	require.Equal(t, want, exp.exported(), "every record once, in order")
	require.NoError(t, lp.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported)
	require.Zero(t, s.TotalDropped())
	require.Zero(t, s.Spool.Records)
	require.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// TestSpoolMaxBytes: a spool at its size bound removes its oldest records,
// which the destination that had not exported them counts as spool_full;
// the accounting holds throughout.
func TestSpoolMaxBytes(t *testing.T) {
	const n, burst = 2000, 25
	var errs errorLog
	exp := &spoolExporter{gate: make(chan struct{})}
	p, err := New(exp, WithSpool(t.TempDir(), WithSpoolSyncInterval(0), WithSpoolSegmentSize(16<<10), WithSpoolMaxBytes(64<<10)),
		WithMaxQueueBytes(64<<10), WithExportInterval(10*time.Millisecond), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	lp, lg := spoolProvider(p, nil)
	for i := 0; i < n; i += burst {
		spoolEmit(lg, i, i+burst)
		require.Eventually(t, func() bool { return spoolWritten(p) }, 10*time.Second, time.Millisecond)
		requireInvariant(t, p.Stats())
		s := p.Stats()
		require.LessOrEqual(t, s.Spool.Bytes, int64(64<<10))
	}
	s := p.Stats()
	requireInvariant(t, s)
	require.NotZero(t, s.Dropped[DropSpoolFull], "%v", s)
	require.Equal(t, s.Dropped[DropSpoolFull], s.Destinations[0].Dropped[DropSpoolFull])
	close(exp.gate)
	require.NoError(t, lp.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported+s.Dropped[DropSpoolFull], "%v", s)
	require.Equal(t, int(s.Exported), exp.count(), "%v %+v", s, s.Destinations[0])
	require.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// TestSpoolImmediateShutdown: a Shutdown whose context has already ended
// (lifecycle.Immediate) still writes what memory holds to the spool, and
// leaves it there: nothing is dropped, and the next start delivers it.
func TestSpoolImmediateShutdown(t *testing.T) {
	const n = 500
	dir := t.TempDir()
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, WithSpool(dir), WithoutDropAlerts(), WithErrorHandler(errs.handle)) // syncs every second
	require.NoError(t, err)
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// As lifecycle.Immediate does: the provider's Shutdown with an ended
	// context would not reach the processor.
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate)
	waitWorkers(p)
	s := p.Stats()
	requireInvariant(t, s)
	require.Zero(t, s.TotalDropped(), "%v", s)
	require.Equal(t, uint64(n), s.Spool.LeftForNextStart)
	require.Equal(t, uint64(n), s.Destinations[0].LeftForNextStart)

	exp := &spoolExporter{}
	p2, err := New(exp, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	require.Equal(t, uint64(n), p2.Stats().Spool.Recovered)
	require.NoError(t, p2.Shutdown(context.Background()))
	require.Equal(t, expectedKeys(0, n), exp.exported())
	s = p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported)
	require.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// TestSpoolMaxAge: records older than WithSpoolMaxAge leave the spool,
// counted as spool_age by the destination that had not exported them.
func TestSpoolMaxAge(t *testing.T) {
	const n, burst, age = 500, 25, 100 * time.Millisecond
	var errs errorLog
	exp := &spoolExporter{gate: make(chan struct{})}
	p, err := New(exp, WithSpool(t.TempDir(), WithSpoolSyncInterval(0), WithSpoolMaxAge(age)),
		WithMaxQueueBytes(64<<10), WithExportInterval(10*time.Millisecond), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	lp, lg := spoolProvider(p, nil)
	emit := func(from, to int) {
		for i := from; i < to; i += burst {
			spoolEmit(lg, i, i+burst)
			require.Eventually(t, func() bool { return spoolWritten(p) }, 10*time.Second, time.Millisecond)
			requireInvariant(t, p.Stats())
		}
	}
	emit(0, n-burst)
	// Not a synchronisation: the records written so far must age past
	// the bound, which the next write applies.
	time.Sleep(age)
	emit(n-burst, n)
	s := p.Stats()
	require.NotZero(t, s.Dropped[DropSpoolAge], "%v", s)
	require.Equal(t, s.Dropped[DropSpoolAge], s.Destinations[0].Dropped[DropSpoolAge])
	close(exp.gate)
	require.NoError(t, lp.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	// Records memory still held when their copy in the spool aged out
	// are no longer in the spool: memory makes room for the last burst
	// by evicting them (byte_limit), as without a spool.
	require.Equal(t, uint64(n), s.Exported+s.Dropped[DropSpoolAge]+s.Dropped[DropByteLimit], "%v", s)
	require.Equal(t, int(s.Exported), exp.count())
}

// chaosExporter fails a share of its calls, and hangs (ignoring its
// context) while its gate is set.
type chaosExporter struct {
	spoolExporter
	mu   sync.Mutex
	fail func() bool
	hang chan struct{}
}

func (e *chaosExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	e.mu.Lock()
	hang, fail := e.hang, e.fail != nil && e.fail()
	e.mu.Unlock()
	if hang != nil {
		<-hang
	}
	if fail {
		return errBackend
	}
	return e.spoolExporter.Export(ctx, recs)
}

func (e *chaosExporter) setHang(h chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hang = h
}

// TestSpoolRandomized drives two destinations — one failing a third of
// its exports (dropped: no retry), one hanging now and then — through a
// small memory budget and a small spool, then a Shutdown that cannot
// wait, then a restart: the accounting holds at every step, for the
// store and each destination, and each destination's records left for
// the next start are those it gets after the restart, beside at most the
// re-sent ones.
func TestSpoolRandomized(t *testing.T) {
	for seed := range 12 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := newLockedRand(int64(seed))
			dir := t.TempDir()
			var errs errorLog
			flaky := &chaosExporter{fail: func() bool { return rnd.Intn(3) == 0 }}
			hangy := &chaosExporter{}
			opts := []Option{
				WithSpool(dir, WithSpoolSyncInterval(time.Duration(seed)*time.Millisecond), WithSpoolSegmentSize(16<<10), WithSpoolMaxBytes(256<<10)),
				WithMaxQueueBytes(96 << 10), WithExportInterval(5 * time.Millisecond), WithExportMaxBatchSize(64),
				WithoutRetry(), WithoutDropAlerts(), WithErrorHandler(errs.handle),
			}
			dests := func(a, b sdklog.Exporter) []Destination {
				return []Destination{{Name: "flaky", Exporter: a}, {Name: "hangy", Exporter: b}}
			}
			p, err := NewWithDestinations(dests(flaky, hangy), opts...)
			require.NoError(t, err)
			_, lg := spoolProvider(p, nil)
			var gate chan struct{}
			n := 0
			for range 60 {
				switch rnd.Intn(4) {
				case 0:
					if gate == nil {
						gate = make(chan struct{})
						hangy.setHang(gate)
					} else {
						hangy.setHang(nil)
						close(gate)
						gate = nil
					}
				default:
					k := 1 + rnd.Intn(60)
					spoolEmit(lg, n, n+k)
					n += k
				}
				requireInvariant(t, p.Stats())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_ = p.Shutdown(ctx)
			cancel()
			if gate != nil {
				close(gate)
			}
			waitWorkers(p)
			s := p.Stats()
			requireInvariant(t, s)
			require.Equal(t, uint64(n), s.Received)
			for _, d := range s.Destinations {
				require.Equal(t, uint64(d.Queued), d.LeftForNextStart, "%+v", d)
				require.Zero(t, d.InFlight, "%+v", d)
			}
			t.Logf("first run: %v %+v %+v", s, s.Destinations, *s.Spool)
			left := []uint64{s.Destinations[0].LeftForNextStart, s.Destinations[1].LeftForNextStart}

			a, b := &spoolExporter{}, &spoolExporter{}
			p2, err := NewWithDestinations(dests(a, b), opts...)
			require.NoError(t, err)
			s2 := p2.Stats()
			requireInvariant(t, s2)
			require.NoError(t, p2.Shutdown(context.Background()))
			s2 = p2.Stats()
			requireInvariant(t, s2)
			for i, d := range s2.Destinations {
				require.GreaterOrEqual(t, d.Recovered, left[i], "%+v", d)
				require.LessOrEqual(t, d.Recovered-left[i], s2.Spool.Resent, "%+v %+v", d, *s2.Spool)
				require.Equal(t, d.Recovered, d.Exported, "%+v", d)
			}
			require.Equal(t, s2.Destinations[0].Exported, uint64(a.count()))
			require.Equal(t, s2.Destinations[1].Exported, uint64(b.count()))
			require.Zero(t, s2.Spool.LeftForNextStart)
		})
	}
}

// lockedRand is a rand.Rand safe for the exporters' goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed int64) *lockedRand { return &lockedRand{r: rand.New(rand.NewSource(seed))} }

func (l *lockedRand) Intn(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Intn(n)
}

// TestSpoolDamaged: a spool file damaged between two runs (a flipped
// byte in the middle, garbage at the end) loses the batch it overlaps
// and no other: New succeeds, reports the damage, counts the batch's
// records as damaged, and delivers every record that survived; the
// accounting holds.
func TestSpoolDamaged(t *testing.T) {
	const n = 1000
	dir := t.TempDir()
	var errs errorLog
	spoolBacklog(t, dir, n) // many payloads in several files

	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Greater(t, len(files), 2, "several segment files")
	b, err := os.ReadFile(files[1])
	require.NoError(t, err)
	flip := int64(len(b) / 2)
	lost := 0 // the records of the batch the flipped byte is in
	for _, fr := range spoolFrames(t, dir) {
		if fr.file == files[1] && fr.off <= flip && flip < fr.off+fr.size {
			lost = fr.records
		}
	}
	require.Positive(t, lost)
	b[flip] ^= 0x40
	require.NoError(t, os.WriteFile(files[1], b, 0o600))
	f, err := os.OpenFile(files[len(files)-1], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("garbage appended by a crash"))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	exp := &spoolExporter{}
	p2, err := New(exp, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	s := p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(lost), s.Spool.Damaged, "the flipped byte loses one batch: %+v", *s.Spool)
	require.Equal(t, uint64(n-lost), s.Spool.Recovered, "only the damaged batch is lost")
	require.Equal(t, 1, errs.matching("recovered with damage"))
	require.NoError(t, p2.Shutdown(context.Background()))
	s = p2.Stats()
	requireInvariant(t, s)
	require.Equal(t, s.Spool.Recovered, s.Exported)
	// What survived is delivered identical, in order: a subsequence of
	// what was emitted, missing one run.
	want, got := expectedKeys(0, n), exp.exported()
	require.Len(t, got, int(s.Exported))
	j := 0
	for _, k := range got {
		for j < len(want) && want[j] != k {
			j++
		}
		require.Less(t, j, len(want), "a record that was not emitted, or out of order: %s", k)
		j++
	}
}

// TestSpoolWritesPackedRecords: records the store packed before the
// spooler got to them are written from their encoding, with their
// resource and scope, and a restart delivers them identical, in order,
// beside the records that were not packed.
func TestSpoolWritesPackedRecords(t *testing.T) {
	const n = 1000
	dir := filepath.Join(t.TempDir(), "spool")
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, WithSpool(dir, WithSpoolSyncInterval(time.Hour)), WithExportMaxBatchSize(64),
		WithExportInterval(10*time.Millisecond), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	require.NoError(t, err)
	// Keep the spooler asleep until Shutdown: it is woken only when
	// awake is false, and the budget is far from half full (no hurry)
	// and the sync interval far away.
	p.mu.Lock()
	p.sp.awake = true
	p.mu.Unlock()
	var capture recordtest.Capture
	lp, lg := spoolProvider(p, &capture)
	spoolEmit(lg, 0, n)

	p.mu.Lock()
	require.Equal(t, p.startSeq, p.sp.next, "the spooler wrote nothing yet")
	// Room for a record as large as the budget: every chunk that may
	// be packed is.
	p.packForRoomLocked(p.cfg.maxQueueBytes, bounds{maxBytes: p.cfg.maxQueueBytes, byteReason: idxByteLimit}, false)
	packed := p.packedRecords
	p.mu.Unlock()
	require.Greater(t, packed, uint64(n/2), "most records are packed")
	require.Less(t, packed, uint64(n), "some are not: the batch being exported, the chunk being filled")

	// Shutdown writes what memory holds; the hung destination leaves it
	// all for the next start.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, lp.Shutdown(ctx), context.DeadlineExceeded)
	close(hung.gate)
	waitWorkers(p)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Spool.LeftForNextStart, "%v", s)

	exp := &spoolExporter{}
	p2, err := New(exp, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	require.Equal(t, uint64(n), p2.Stats().Spool.Recovered)
	require.Eventually(t, func() bool { return exp.count() == n }, 10*time.Second, time.Millisecond)
	want := make([]string, 0, n)
	for _, r := range capture.Records() {
		want = append(want, recordKey(&r))
	}
	require.Equal(t, want, exp.exported(), "every record, identical, in order")
	require.NoError(t, p2.Shutdown(context.Background()))
	requireInvariant(t, p2.Stats())
	require.Zero(t, errs.matching("spool"), "no spool error: %v", errs.errs)
}

// TestPackedRecordsSpoolAsTheirRecords: the payload of packed slots, some
// left out (evicted or released before the spooler got to them), is the
// one AppendBatch gives for their records.
func TestPackedRecordsSpoolAsTheirRecords(t *testing.T) {
	var capture recordtest.Capture
	lp, lg := spoolProvider(nil, &capture)
	spoolEmit(lg, 0, 40)
	other := lp.Logger("another/scope")
	var r log.Record
	r.SetBody(attribute.StringValue("another scope"))
	other.Emit(context.Background(), r)
	spoolEmit(lg, 40, 50)
	require.NoError(t, lp.Shutdown(context.Background()))
	recs := capture.Records()
	var cache []*sdklog.Record
	e, _, ok := encodeChunk(recs, 0, nil, &cache, nil)
	require.True(t, ok)
	c := &chunk{enc: e.enc, offs: e.offs, tidx: e.tidx, tmpls: e.tmpls, packed: true}
	require.Len(t, c.tmpls, 2)
	var idx []int32
	var kept []sdklog.Record
	for i := range recs {
		if i%3 != 1 {
			idx = append(idx, int32(i))
			kept = append(kept, recs[i])
		}
	}
	want, err := recordcodec.AppendBatch([]byte("header"), kept)
	require.NoError(t, err)
	got, err := packedRecords{c: c, idx: idx}.appendBatch([]byte("header"), len(idx))
	require.NoError(t, err)
	require.Equal(t, want, got)
	half, err := packedRecords{c: c, idx: idx}.appendBatch(nil, len(idx)/2)
	require.NoError(t, err)
	want, err = recordcodec.AppendBatch(nil, kept[:len(idx)/2])
	require.NoError(t, err)
	require.Equal(t, want, half, "a prefix, as encode writes a batch too large for a segment")
}

// TestPackerPassesOverSpooledChunks: the packer leaves alone the chunks
// the spool holds — spilling frees them whole at no cost — but does not
// lose them: packing for admission still finds them, oldest first.
func TestPackerPassesOverSpooledChunks(t *testing.T) {
	const n = 1000
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, spoolOpts(t.TempDir(), &errs, WithExportMaxBatchSize(64))...)
	require.NoError(t, err)
	lp, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	require.Eventually(t, func() bool { return spoolWritten(p) }, 10*time.Second, time.Millisecond)

	p.mu.Lock()
	spilling := p.spillableLocked()
	require.Equal(t, p.st.nextSeq, spilling.to, "the spool holds every record")
	require.Nil(t, p.st.packCandidate(spilling), "the packer finds nothing to pack")
	c := p.st.packCandidate(seqRange{})
	require.NotNil(t, c, "admission may still pack them")
	var oldest *chunk
	for o := p.st.first; o != nil && o != p.st.last; o = o.next {
		if o.pins == 0 && !o.packed && o.done < o.tail {
			oldest = o
			break
		}
	}
	require.Same(t, oldest, c, "the oldest, though the packer passed over it")
	p.mu.Unlock()

	close(hung.gate)
	require.NoError(t, lp.Shutdown(context.Background()))
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported)
	require.Zero(t, s.Packed)
}
