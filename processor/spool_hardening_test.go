package processor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

// seqExporter keeps the distinct "seq" attributes it accepted. down makes
// every Export fail transiently; gate, when not nil, makes Export wait for
// it, ignoring its context (a hung backend).
type seqExporter struct {
	mu   sync.Mutex
	seen map[int64]bool
	down bool
	gate chan struct{}
}

var errDown = errors.New("backend down")

func (e *seqExporter) Export(_ context.Context, recs []sdklog.Record) error {
	if e.gate != nil {
		<-e.gate
	}
	if e.down {
		return errDown
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[int64]bool{}
	}
	for _, r := range recs {
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == "seq" {
				e.seen[kv.Value.AsInt64()] = true
			}
			return true
		})
	}
	return nil
}
func (e *seqExporter) ForceFlush(context.Context) error { return nil }
func (e *seqExporter) Shutdown(context.Context) error   { return nil }

func (e *seqExporter) distinct() map[int64]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[int64]bool, len(e.seen))
	for k := range e.seen {
		out[k] = true
	}
	return out
}

// TestHardeningSpoolShutdownMidEmit attacks the spool through a real
// LoggerProvider under each overflow policy: two destinations, one whose
// backend is down and one whose export hangs, a 64 KiB memory budget,
// four goroutines emitting, and the provider shut down with a short
// deadline while they still emit. The accounting holds for the store and
// each destination; what a destination did not finish is left on disk;
// a restart against healthy backends delivers it, so that across both
// runs every record a destination did not drop reaches it.
func TestHardeningSpoolShutdownMidEmit(t *testing.T) {
	policies := map[string]processor.OverflowPolicy{
		"drop_oldest": processor.DropOldest(),
		"drop_newest": processor.DropNewest(),
		"block":       processor.Block(5 * time.Millisecond),
	}
	for name, policy := range policies {
		t.Run(name, func(t *testing.T) {
			const goroutines, perG = 4, 1500
			dir := t.TempDir()
			opts := append(quiet(), processor.WithSpool(dir, processor.WithSpoolSegmentSize(64<<10)),
				processor.WithMaxQueueBytes(64<<10), processor.WithOverflow(policy),
				processor.WithExportInterval(5*time.Millisecond), processor.WithExportMaxBatchSize(64))
			down := &seqExporter{down: true}
			hung := &seqExporter{gate: make(chan struct{})}
			dests := func(a, b sdklog.Exporter) []processor.Destination {
				return []processor.Destination{{Name: "down", Exporter: a}, {Name: "hung", Exporter: b}}
			}
			p, err := processor.NewWithDestinations(dests(down, hung), opts...)
			require.NoError(t, err)
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
			lg := lp.Logger("spool-hardening")

			halfway := make(chan struct{}, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perG {
						if i == perG/2 {
							halfway <- struct{}{}
						}
						var r log.Record
						r.SetBody(attribute.StringValue("spool hardening"))
						r.AddAttributes(attribute.Int64("seq", int64(g*perG+i)))
						lg.Emit(context.Background(), r)
					}
				}()
			}
			for range goroutines {
				<-halfway
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			within(t, 10*time.Second, "LoggerProvider.Shutdown", func() { _ = lp.Shutdown(ctx) })
			cancel()
			within(t, 10*time.Second, "the emitters", wg.Wait)
			close(hung.gate)
			// The hung export was abandoned at the deadline; once it
			// returns, nothing is in flight any more.
			require.Eventually(t, func() bool {
				s := p.Stats()
				return s.InFlight == 0 && s.Destinations[0].InFlight == 0 && s.Destinations[1].InFlight == 0
			}, 10*time.Second, time.Millisecond)
			first := p.Stats()
			invariant(t, first)
			for _, d := range first.Destinations {
				require.Equal(t, uint64(d.Queued), d.LeftForNextStart, "%+v", d)
			}
			require.NotZero(t, first.Spool.LeftForNextStart, "%v", first)

			a, b := &seqExporter{}, &seqExporter{}
			p2, err := processor.NewWithDestinations(dests(a, b), opts...)
			require.NoError(t, err)
			within(t, 30*time.Second, "the restart's Shutdown", func() { require.NoError(t, p2.Shutdown(context.Background())) })
			second := p2.Stats()
			invariant(t, second)
			require.Zero(t, second.Spool.LeftForNextStart, "%v", second)
			for i, exp := range []*seqExporter{a, b} {
				d1, d2 := first.Destinations[i], second.Destinations[i]
				require.GreaterOrEqual(t, d2.Recovered, d1.LeftForNextStart, "%+v", d2)
				require.LessOrEqual(t, d2.Recovered-d1.LeftForNextStart, second.Spool.Resent, "%+v", d2)
				require.Zero(t, d2.TotalDropped(), "%+v", d2)
				got := exp.distinct()
				for k := range []*seqExporter{down, hung}[i].distinct() {
					got[k] = true
				}
				require.Equal(t, int(d1.Received-d1.TotalDropped()), len(got),
					fmt.Sprintf("destination %s: every record it did not drop arrives, across both runs (first %+v, second %+v)", d1.Name, d1, d2))
			}
		})
	}
}
