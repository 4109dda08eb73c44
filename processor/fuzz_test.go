package processor

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// toggleExporter succeeds or fails according to a flag the fuzz program
// flips, and records the sequence numbers it exported.
type toggleExporter struct {
	failing atomic.Bool
	got     []int // touched only by the worker, read after Shutdown
}

func (e *toggleExporter) Export(_ context.Context, recs []sdklog.Record) error {
	if e.failing.Load() {
		return errBackend
	}
	for i := range recs {
		n, _ := strconv.Atoi(recs[i].Body().AsString())
		e.got = append(e.got, n)
	}
	return nil
}
func (e *toggleExporter) ForceFlush(context.Context) error { return nil }
func (e *toggleExporter) Shutdown(context.Context) error   { return nil }

// FuzzProcessor runs random programs of emits (with random severities),
// flushes, exporter failures and a final shutdown, and checks that the
// accounting identity holds after every step, that every record is
// exported at most once and in arrival order, and that the counters agree
// with what the exporter saw.
func FuzzProcessor(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0})
	f.Add([]byte{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 201, 3, 3, 3, 3, 3, 202, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) == 0 {
			return
		}
		exp := &toggleExporter{}
		queue := int(program[0]%16) + 1
		opts := []Option{
			WithMaxQueueSize(queue),
			WithExportMaxBatchSize(int(program[0]/16)%queue + 1),
			WithExportInterval(time.Hour),
			WithErrorHandler(func(error) {}),
		}
		if program[0]&2 == 2 {
			opts = append(opts, WithoutRetry())
		} else {
			opts = append(opts, WithRetryBackoff(time.Microsecond, time.Microsecond), WithRetryMaxElapsed(time.Millisecond))
		}
		if program[0]&1 == 1 {
			opts = append(opts, WithSeverityEviction(log.SeverityWarn))
		}
		p := newProcessor(t, exp, opts...)
		emitted := 0
		for _, op := range program[1:] {
			switch {
			case op < 200:
				sev := log.Severity(op%24) + 1
				require.NoError(t, p.OnEmit(context.Background(), record(strconv.Itoa(emitted), sev)))
				emitted++
			case op < 230:
				_ = p.ForceFlush(context.Background())
			default:
				exp.failing.Store(!exp.failing.Load())
			}
			requireInvariant(t, p.Stats())
		}
		err := p.Shutdown(context.Background())
		if !exp.failing.Load() {
			require.NoError(t, err)
		}
		s := p.Stats()
		requireInvariant(t, s)
		require.Equal(t, uint64(emitted), s.Received)
		require.Zero(t, s.Queued)
		require.Zero(t, s.InFlight)
		require.Equal(t, s.Exported, uint64(len(exp.got)))
		for i := 1; i < len(exp.got); i++ {
			require.Less(t, exp.got[i-1], exp.got[i], "exported out of order or twice: %v", exp.got)
		}
	})
}
