package processor

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/internal/recordtest"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role)) // a child process of a test: see spool_child_test.go
	}
	goleak.VerifyTestMain(m)
}

// recordingExporter keeps the bodies of exported records, in order, and
// can be told to block, fail or panic. It also detects overlapping Export
// calls, which the SDK's exporter contract forbids.
type recordingExporter struct {
	mu        sync.Mutex
	bodies    []string
	batches   []int
	calls     atomic.Int64
	active    atomic.Int32
	overlap   atomic.Bool
	flushes   atomic.Int64
	shutdowns atomic.Int64

	entered chan struct{} // if set, receives once per Export call, before blocking
	gate    chan struct{} // if set, Export blocks until it is closed (ignoring ctx)
	fail    error         // if set, Export returns it
	panicV  any           // if set, Export panics with it
}

func (e *recordingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.active.Add(1) > 1 {
		e.overlap.Store(true)
	}
	defer e.active.Add(-1)
	e.calls.Add(1)
	if e.entered != nil {
		e.entered <- struct{}{}
	}
	if e.gate != nil {
		<-e.gate
	}
	if e.panicV != nil {
		panic(e.panicV)
	}
	if e.fail != nil {
		return e.fail
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range recs {
		e.bodies = append(e.bodies, recs[i].Body().AsString())
	}
	e.batches = append(e.batches, len(recs))
	return nil
}

func (e *recordingExporter) ForceFlush(context.Context) error { e.flushes.Add(1); return nil }
func (e *recordingExporter) Shutdown(context.Context) error   { e.shutdowns.Add(1); return nil }

func (e *recordingExporter) exported() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.bodies...)
}

// record builds a record with a body, a severity and a few attributes, as
// a bridge would hand it to OnEmit.
//
// The record is a zero sdklog.Record's: it has no resource, and its
// attributes count as dropped (a zero record's count limit is 0), so the
// store never packs it (see pack.go), and byte bounds evict it as they
// would without packing. packableRecord builds one that packs.
func record(body string, sev log.Severity) *sdklog.Record {
	var r sdklog.Record
	r.SetBody(attribute.StringValue(body))
	r.SetSeverity(sev)
	r.AddAttributes(attribute.String("k", "v"), attribute.Int("n", 1))
	return &r
}

// packableRecord is record's counterpart built as a LoggerProvider builds
// records: the store packs it when the byte budget is full.
func packableRecord(body string, sev log.Severity) *sdklog.Record {
	r := providerTemplate
	r.SetBody(attribute.StringValue(body))
	r.SetSeverity(sev)
	r.AddAttributes(attribute.String("k", "v"), attribute.Int("n", 1))
	return &r
}

// providerTemplate is a record a real LoggerProvider built: it carries a
// resource, a scope and the SDK's attribute limits, as every record
// handed to OnEmit does (a zero sdklog.Record keeps no attributes).
var providerTemplate = recordtest.Emit(nil, "test", log.Record{})[0]

func emit(t testing.TB, p *Processor, body string, sev log.Severity) {
	t.Helper()
	require.NoError(t, p.OnEmit(context.Background(), record(body, sev)))
}

// requireInvariant asserts the accounting identity on one snapshot.
func requireInvariant(t testing.TB, s Stats) {
	t.Helper()
	require.Equal(t, s.Received, s.Exported+s.TotalDropped()+uint64(s.Queued)+uint64(s.InFlight),
		"accounting invariant broken: %v", s)
	for _, d := range s.Destinations {
		require.Equal(t, d.Received, d.Exported+d.TotalDropped()+uint64(d.Queued)+uint64(d.InFlight),
			"destination accounting invariant broken: %+v", d)
	}
}

func newProcessor(t testing.TB, exp sdklog.Exporter, opts ...Option) *Processor {
	t.Helper()
	p, err := New(exp, opts...)
	require.NoError(t, err)
	return p
}

// shutdownNow shuts p down, releasing a gated exporter first so the worker
// can end (goleak checks it did).
func shutdownNow(t testing.TB, p *Processor, gate chan struct{}) {
	t.Helper()
	if gate != nil {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}
	require.NoError(t, p.Shutdown(context.Background()))
}

var errBackend = errors.New("backend refused")

// waitWorkers waits until every destination's worker goroutine has ended.
func waitWorkers(p *Processor) {
	for _, d := range p.dests {
		<-d.done
	}
}
