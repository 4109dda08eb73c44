package integration

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

// Hang scenario: records stream at hangRate while the collector is frozen with
// SIGSTOP for hangDown — its sockets stay open and accept bytes, but nothing
// answers, so every export waits for its timeout.
const (
	hangUp            = 2 * time.Second // streaming before the freeze
	hangDown          = 15 * time.Second
	hangRate          = 5_000 // records per second
	hangTick          = 10 * time.Millisecond
	hangPerTick       = hangRate * int(hangTick) / int(time.Second)
	hangExportTimeout = 2 * time.Second
	hangOpenTimeout   = time.Second
	hangMaxQueueBytes = 1 << 20
	// hangOnEmitP99 is a generous bound on OnEmit's 99th percentile while the
	// collector hangs: OnEmit takes about a microsecond (more under -race), and
	// anything near a millisecond would mean it waits for the exporter.
	hangOnEmitP99 = time.Millisecond
)

// phase names the part of the hang scenario a latency sample belongs to.
type phase int32

const (
	phaseBefore phase = iota
	phaseHang
	phaseAfter
	phaseCount
)

func (p phase) String() string { return [...]string{"before", "hang", "after"}[p] }

// timedProcessor measures each OnEmit of the processor it wraps, as the
// application's logging call experiences it, and files the sample under the
// current phase. Only one goroutine emits, so the slices need no lock.
type timedProcessor struct {
	sdklog.Processor
	phase   *atomic.Int32
	samples [phaseCount][]time.Duration
}

func (p *timedProcessor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	start := time.Now()
	err := p.Processor.OnEmit(ctx, r)
	d := time.Since(start)
	ph := p.phase.Load()
	p.samples[ph] = append(p.samples[ph], d)
	return err
}

// percentile returns the q-quantile (0 ≤ q ≤ 1) of ds, sorting ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

// TestHangSIGSTOP freezes the collector for 15 s while records stream through
// the steadylog processor and a breaker-guarded OTLP/HTTP exporter, and checks
// that the application never feels it: OnEmit stays fast, the breaker opens
// instead of letting every batch wait for its timeout, memory stays within the
// byte budget, every record is accounted for, and delivery resumes after
// SIGCONT.
func TestHangSIGSTOP(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	col := harness.StartCollector(t, otelcol)
	otlp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
	require.NoError(t, err)
	b := breaker.MustNew(breaker.Config{
		Name:                "collector",
		ConsecutiveFailures: 2,
		OpenTimeout:         hangOpenTimeout,
		// Probes fail for the whole freeze; the cap keeps the last wait short
		// so that delivery resumes soon after SIGCONT.
		MaxOpenTimeout: 2 * hangOpenTimeout,
	})
	errs := &errorCounter{}
	proc, err := processor.New(exporter.MustBreaker(otlp, b),
		processor.WithExportTimeout(hangExportTimeout),
		processor.WithMaxQueueSize(1_000_000), // the byte budget is the bound that matters here
		processor.WithMaxQueueBytes(hangMaxQueueBytes),
		processor.WithErrorHandler(errs.handle),
		processor.WithoutDropAlerts(),
	)
	require.NoError(t, err)
	var ph atomic.Int32
	timed := &timedProcessor{Processor: proc, phase: &ph}
	logger, provider := newSlog(timed)

	// The emitter: hangPerTick records every hangTick, numbered from 0.
	stop := make(chan struct{})
	var emitted atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { emitPaced(ctx, logger, hangTick, hangPerTick, &emitted, stop) })

	// The sampler: the budget, the accounting identity and the breaker's
	// state, every 5 ms.
	var (
		samples, overBudget, identityBroken atomic.Int64
		maxHeld                             atomic.Int64
		sawOpen                             atomic.Bool
		lastBad                             atomic.Value
	)
	wg.Go(func() {
		ticker := time.NewTicker(5 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
			st := proc.Stats()
			samples.Add(1)
			held := st.QueuedBytes + st.InFlightBytes
			if held > maxHeld.Load() {
				maxHeld.Store(held)
			}
			if held > hangMaxQueueBytes {
				overBudget.Add(1)
				lastBad.Store(st.String())
			}
			if st.Received != st.Exported+st.TotalDropped()+uint64(st.Queued)+uint64(st.InFlight) {
				identityBroken.Add(1)
				lastBad.Store(st.String())
			}
			if phase(ph.Load()) == phaseHang && b.State() == breaker.Open {
				sawOpen.Store(true)
			}
		}
	})

	pause := func(d time.Duration) {
		select {
		case <-time.After(d): // the scenario's timing, not synchronisation
		case <-ctx.Done():
		}
	}

	pause(hangUp)
	exportedBefore := proc.Stats().Exported
	require.Positive(t, exportedBefore, "records are exported before the freeze")
	ph.Store(int32(phaseHang))
	require.NoError(t, col.Stop())
	frozenAt := emitted.Load()
	t.Logf("collector SIGSTOPped at %d emitted; %s", frozenAt, proc.Stats())
	pause(hangDown)
	require.NoError(t, col.Cont())
	resumedAt := emitted.Load()
	ph.Store(int32(phaseAfter))
	trans := b.Transitions()
	stHang := proc.Stats()
	t.Logf("collector SIGCONTed at %d emitted; breaker %s, %d closed→open, %d transitions; %s",
		resumedAt, b.State(), trans.Count(breaker.Closed, breaker.Open), trans.Total(), stHang)

	// Records emitted after SIGCONT reach the collector's file.
	const wantAfter = 1000
	recoverStart := time.Now()
	fc, err := col.WaitForSeqsFrom(ctx, seqKey, resumedAt, wantAfter)
	require.NoError(t, err, "delivery did not resume after SIGCONT; %s; breaker %s; %s", proc.Stats(), b.State(), errs)
	recovered := time.Since(recoverStart)

	close(stop)
	wg.Wait()
	require.NoError(t, ctx.Err(), "scenario overran its deadline")
	shutdownCtx, shutdownCancel := context.WithTimeout(ctx, 10*time.Second)
	defer shutdownCancel()
	require.NoError(t, provider.Shutdown(shutdownCtx))

	st := proc.Stats()
	var p50, p99, pmax [phaseCount]time.Duration
	for i := range phaseCount {
		p50[i] = percentile(timed.samples[i], 0.50)
		p99[i] = percentile(timed.samples[i], 0.99)
		pmax[i] = percentile(timed.samples[i], 1)
	}
	t.Logf("hang summary: %d emitted (%d during the %v freeze); OnEmit p50/p99/max before %v/%v/%v, hang %v/%v/%v, after %v/%v/%v; "+
		"breaker saw open=%v, closed→open %d, trips %d, rejected %d; max held %d of %d bytes over %d samples; "+
		"%d records ≥ seq %d in the file %v after SIGCONT (%s); final %s; "+
		"at least %d records counted as dropped were delivered (exports that timed out during the freeze, processed after SIGCONT); %s",
		emitted.Load(), resumedAt-frozenAt, hangDown,
		p50[phaseBefore], p99[phaseBefore], pmax[phaseBefore], p50[phaseHang], p99[phaseHang], pmax[phaseHang],
		p50[phaseAfter], p99[phaseAfter], pmax[phaseAfter],
		sawOpen.Load(), b.Transitions().Count(breaker.Closed, breaker.Open), b.Counts().Trips, b.Counts().Rejected,
		maxHeld.Load(), hangMaxQueueBytes, samples.Load(),
		fc.CountAtLeast(resumedAt), resumedAt, recovered.Round(time.Millisecond), fc, st,
		max(0, int64(fc.Distinct)-int64(st.Exported)), errs)

	assert.NotEmpty(t, timed.samples[phaseHang])
	assert.Less(t, p99[phaseHang], hangOnEmitP99, "OnEmit p99 while the collector hangs")
	assert.True(t, sawOpen.Load() || trans.Count(breaker.Closed, breaker.Open) > 0,
		"the breaker opened during the freeze")
	assert.Positive(t, trans.Count(breaker.Closed, breaker.Open), "closed→open transitions during the freeze")
	assert.Zero(t, overBudget.Load(), "QueuedBytes+InFlightBytes exceeded %d, e.g. %v", hangMaxQueueBytes, lastBad.Load())
	assert.Zero(t, identityBroken.Load(), "accounting identity broken during the run, e.g. %v", lastBad.Load())
	assert.Equal(t, st.Received, st.Exported+st.TotalDropped()+uint64(st.Queued)+uint64(st.InFlight),
		"Received == Exported + TotalDropped + Queued + InFlight")
	assert.EqualValues(t, emitted.Load(), st.Received, "every emitted record reached the processor")
	assert.Positive(t, st.TotalDropped(), "a 15 s freeze at %d records/s overflows a %d-byte budget", hangRate, hangMaxQueueBytes)
	assert.Greater(t, st.Exported, exportedBefore, "exports resumed after SIGCONT")
	assert.Zero(t, fc.WithoutSeq)
}
