package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/integration/internal/spoolrecords"
	"github.com/steadylog/steadylog/processor"
)

// The long outage: a service logs at longOutageRate while its Collector
// is down for longOutageDown, far longer than the byte budget holds.
const (
	longOutageRate    = 10_000 // records per second
	longOutageMinRate = 9_000  // below this the child did not sustain the load
	longOutageTick    = 10 * time.Millisecond
	// longOutageWarmup is how long the child logs with the Collector up
	// before the outage: the baseline of its memory without one.
	longOutageWarmup = 10 * time.Second
	longOutageDown   = 60 * time.Second
	// longOutageCatchUp bounds the replay: the backlog (600,000 records)
	// must be delivered while 10,000 records/s keep coming.
	longOutageCatchUp  = 60 * time.Second
	longOutageDeadline = 4 * time.Minute
	// memorySampleEvery is how often the child's /proc status is read;
	// VmHWM misses no peak between two reads.
	memorySampleEvery = 100 * time.Millisecond
)

// longOutageResults is what TestSpoolBridgesLongOutage measured, written
// to STEADYLOG_RESULTS_DIR/spool-outage.json when that is set.
type longOutageResults struct {
	Rate            float64 `json:"rate_per_s"`
	Emitted         int     `json:"emitted"`
	OutageSeconds   float64 `json:"outage_s"`
	Signal          string  `json:"signal"`
	Backlog         uint64  `json:"backlog_at_restart"`
	ReplaySeconds   float64 `json:"replay_s"`
	DrainSeconds    float64 `json:"drain_after_emission_s"`
	Delivered       int     `json:"delivered_distinct"`
	Duplicates      int     `json:"duplicates"`
	Lost            int     `json:"lost"`
	BudgetMiB       float64 `json:"budget_mib"`
	BaselinePeakMiB float64 `json:"baseline_peak_rss_mib"`
	PeakMiB         float64 `json:"peak_rss_mib"`
	LimitMiB        float64 `json:"limit_rss_mib"`
	PhaseRSSMiB     struct {
		Baseline float64 `json:"baseline"`
		Outage   float64 `json:"outage"`
		Replay   float64 `json:"replay"`
		Drain    float64 `json:"drain"`
	} `json:"phase_max_rss_mib"`
	SpoolPeakMiB float64 `json:"spool_peak_mib"`
	OutputMiB    float64 `json:"collector_output_mib"`
	CountSeconds float64 `json:"count_s"`
}

// TestSpoolBridgesLongOutage is a long outage bridged by the spool: a
// child process logs 10,000 records/s through a LoggerProvider and a
// steadylog processor with WithSpool and every other option at its
// default — a 32 MiB byte budget, and a 1 minute retry budget the outage
// outlasts, which with a spool drops nothing — over otlploghttp to the real Collector. After a 10 s baseline
// the Collector is SIGKILLed (a crash: no flush, connections reset) and
// stays down 60 s: 600,000 records, about fifteen times the 38,900 of
// these records the budget holds unpacked (863 bytes each by its
// estimate). Then it is restarted, and the child keeps logging while the
// backlog is replayed. Asserted: every record emitted is in the
// Collector's output (duplicates, which at-least-once delivery allows,
// are counted and reported as re-sent); the child's Stats count no drop,
// and the accounting identity holds in every snapshot; memory holds no
// more than the budget by the processor's estimate, and the child's
// resident memory stays within 2.2 times the sum of its baseline peak
// and the budget (longOutageRSSLimit); the child sustained at least 9,000
// records/s; the backlog is delivered within a minute while the load
// goes on.
//
// The child is built without -race (harness.BuildGo runs a plain go
// build): it is the application under test, whose memory is measured,
// and the race detector multiplies a program's memory (5–10× by its
// documentation) and its CPU time. The race detector is for the test's
// own code, which runs under it.
func TestSpoolBridgesLongOutage(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	child := harness.BuildGo(t, filepath.Join(repoRoot(t), "integration"), "./internal/streamchild")
	ctx, cancel := context.WithTimeout(context.Background(), longOutageDeadline)
	defer cancel()
	pause := func(d time.Duration) {
		select {
		case <-time.After(d): // the scenario's timing, not synchronisation
		case <-ctx.Done():
		}
	}

	// The memory bound (longOutageRSSLimit) is derived for the runtime's
	// defaults, whatever the environment the tests run in sets.
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "off")

	col := harness.StartCollector(t, otelcol)
	dir := filepath.Join(t.TempDir(), "spool")
	logPath := filepath.Join(t.TempDir(), "streamchild.log")
	proc, err := harness.StartProcess(t, "streamchild", logPath, child,
		"-dir", dir, "-logs", col.HTTPAddr,
		"-rate", strconv.Itoa(longOutageRate), "-tick", longOutageTick.String(), "-progress", "1s")
	require.NoError(t, err)
	_, err = harness.WaitForLine(ctx, logPath, "started", proc.Done())
	require.NoError(t, err)
	mem := sampleMemory(proc)
	defer mem.stop()

	pause(longOutageWarmup)
	baseline := mem.peak()
	var phaseRSS struct{ baseline, outage, replay, drain int64 }
	phaseRSS.baseline = mem.phase()
	require.Positive(t, baseline.HWM, "no memory sample of the child during the baseline")
	require.NoError(t, col.Kill())
	killed := time.Now()
	t.Logf("Collector SIGKILLed after a %v baseline; child's peak RSS so far %.1f MiB", longOutageWarmup, mib(baseline.HWM))
	pause(longOutageDown)
	require.NoError(t, ctx.Err())
	require.NoError(t, col.Start())
	restarted := time.Now()
	phaseRSS.outage = mem.phase()
	require.NoError(t, proc.Signal(syscall.SIGUSR2), "marks the backlog")
	t.Logf("Collector back after %v", restarted.Sub(killed).Round(time.Millisecond))

	catchCtx, catchCancel := context.WithTimeout(ctx, longOutageCatchUp)
	caughtUp, err := harness.WaitForLine(catchCtx, logPath, "caught-up ", proc.Done())
	catchCancel()
	require.NoError(t, err, "the backlog was not delivered within %v of the restart", longOutageCatchUp)
	backlog, replay := parseCountIn(t, caughtUp) // caught-up N in D
	phaseRSS.replay = mem.phase()

	require.NoError(t, proc.Signal(syscall.SIGUSR1), "ends the load")
	stopped := time.Now()
	emittedLine, err := harness.WaitForLine(ctx, logPath, "emitted ", proc.Done())
	require.NoError(t, err)
	_, err = harness.WaitForLine(ctx, logPath, "delivered", proc.Done())
	require.NoError(t, err)
	drain := time.Since(stopped)
	select {
	case <-proc.Done():
	case <-ctx.Done():
		t.Fatalf("child did not exit after delivering:\n%s", proc.LogTail(20))
	}
	require.NoError(t, proc.ExitErr(), "child:\n%s", proc.LogTail(20))
	peak := mem.stop()
	phaseRSS.drain = mem.phase()

	emitted, emitting := parseCountIn(t, emittedLine) // emitted N in D
	rate := float64(emitted) / emitting.Seconds()

	progress, final := childStats(t, logPath)
	require.NotNil(t, final.Spool)
	var spoolPeak int64
	for _, st := range progress {
		if st.Spool != nil {
			spoolPeak = max(spoolPeak, st.Spool.Bytes)
		}
	}

	require.NoError(t, col.Terminate(), "a graceful stop flushes the file exporter")
	countStart := time.Now()
	fc, err := harness.ScanFile(col.FilePath, spoolrecords.SeqKey)
	require.NoError(t, err)
	counting := time.Since(countStart)
	output, err := os.Stat(col.FilePath)
	require.NoError(t, err)

	budget := processor.DefaultMaxQueueBytes
	limit := longOutageRSSLimit(baseline.HWM, budget)
	res := longOutageResults{
		Rate: rate, Emitted: int(emitted), OutageSeconds: restarted.Sub(killed).Seconds(), Signal: "SIGKILL",
		Backlog: backlog, ReplaySeconds: replay.Seconds(), DrainSeconds: drain.Seconds(),
		Delivered: fc.Distinct, Duplicates: fc.Duplicates, Lost: len(fc.Missing(int(emitted))),
		BudgetMiB: mib(budget), BaselinePeakMiB: mib(baseline.HWM), PeakMiB: mib(peak.HWM), LimitMiB: mib(limit),
		SpoolPeakMiB: mib(spoolPeak), OutputMiB: mib(output.Size()), CountSeconds: counting.Seconds(),
	}
	res.PhaseRSSMiB.Baseline, res.PhaseRSSMiB.Outage = mib(phaseRSS.baseline), mib(phaseRSS.outage)
	res.PhaseRSSMiB.Replay, res.PhaseRSSMiB.Drain = mib(phaseRSS.replay), mib(phaseRSS.drain)
	t.Logf("rate %.0f records/s (%d in %v); outage %.1f s (%s); backlog %d records replayed in %v while the load "+
		"went on, the rest %v after it stopped; Collector output: %s, the duplicates re-sent (%.0f MiB, read in %v); "+
		"peak RSS %.1f MiB (baseline %.1f MiB, budget %.0f MiB, limit %.1f MiB; largest sample by phase: baseline %.1f, "+
		"outage %.1f, replay %.1f, drain %.1f MiB); spool peak %.1f MiB; final stats: %v",
		rate, emitted, emitting.Round(time.Millisecond), res.OutageSeconds, res.Signal, backlog, replay.Round(time.Millisecond),
		drain.Round(time.Millisecond), fc, res.OutputMiB, counting.Round(time.Millisecond), res.PeakMiB, res.BaselinePeakMiB,
		res.BudgetMiB, res.LimitMiB, res.PhaseRSSMiB.Baseline, res.PhaseRSSMiB.Outage, res.PhaseRSSMiB.Replay,
		res.PhaseRSSMiB.Drain, res.SpoolPeakMiB, final)
	if path := harness.WriteResults(t, "spool-outage.json", res); path != "" {
		t.Logf("results written to %s", path)
	}

	assert.GreaterOrEqual(t, rate, float64(longOutageMinRate), "the child sustained the load")
	assert.Greater(t, backlog, uint64(longOutageRate*longOutageDown/time.Second),
		"the backlog holds the outage's records")

	// Nothing lost: every record emitted is in the Collector's output.
	assert.EqualValues(t, emitted, fc.Distinct, "distinct records in the Collector's output")
	if missing := fc.Missing(int(emitted)); !assert.Empty(t, missing, "records lost") && len(missing) > 10 {
		t.Logf("first missing: %v", missing[:10])
	}

	// The child's account agrees: no drop, every record exported.
	assert.EqualValues(t, emitted, final.Received, "every record emitted reached the processor")
	assert.EqualValues(t, emitted, final.Exported)
	assert.Zero(t, final.TotalDropped(), "no drop: %v", final)
	assert.Zero(t, final.Queued)
	assert.Zero(t, final.InFlight)
	assert.Zero(t, final.Spool.Errors, "the spool wrote without failing: %s", final.Spool.LastError)
	require.NotEmpty(t, progress)
	for _, st := range append(progress, final) {
		if st.Received != st.Exported+st.TotalDropped()+uint64(st.Queued)+uint64(st.InFlight) {
			t.Errorf("accounting identity broken: %v", st)
		}
	}
	var queuedPeak int
	for _, st := range progress {
		queuedPeak = max(queuedPeak, st.Queued)
		if held := st.QueuedBytes + st.InFlightBytes; held > budget {
			t.Errorf("memory held %d bytes, over the %d-byte budget: %v", held, budget, st)
		}
	}
	t.Logf("largest backlog %d records, in the spool", queuedPeak)
	assert.Greater(t, queuedPeak, longOutageRate*int(longOutageDown/time.Second)/2,
		"the backlog went far beyond what the budget holds in memory")

	assert.LessOrEqual(t, peak.HWM, limit,
		"the child's peak RSS stays within 2.2 times the sum of its baseline peak and the byte budget")

	// Nothing is left behind once the backlog is delivered: the spool
	// (120 MiB at its peak) deletes delivered segments, and what remains
	// — the segment being written and the ledger — takes at most one
	// segment on disk, counted in allocated blocks (a file preallocated
	// in full would show).
	used := diskUsage(t, dir)
	t.Logf("spool after delivery: %d bytes allocated on disk", used)
	assert.LessOrEqual(t, used, int64(processor.DefaultSpoolSegmentSize)+64<<10,
		"the delivered spool shrinks to at most one segment")
}

// diskUsage is what the files in dir take on disk: their allocated
// blocks, not their sizes.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var n int64
	for _, de := range des {
		fi, err := de.Info()
		require.NoError(t, err)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
	}
	return n
}

// longOutageRSSLimit is the most resident memory the child may reach:
// 2.2 times the sum of its peak in the baseline (the same load with the
// Collector up) and the byte budget. During the outage the live heap is
// at most what it was without one — less than the baseline's peak RSS —
// plus what the budget lets the processor keep in memory (records queued
// and in flight, by their estimated size; the spool takes the rest). With
// GOGC=100 the Go runtime sets the heap goal at twice the live heap, and
// its scavenger keeps up to 10% more than the goal resident for the
// allocator (retainExtraPercent in runtime/mgcscavenge.go): 2 × 1.1.
// Measured in eight runs: 96.5–100.1 MiB against 21.7–23.1 MiB in the
// baseline, limits of 118–121 MiB.
func longOutageRSSLimit(baselinePeak, budget int64) int64 {
	return (baselinePeak + budget) * 22 / 10
}

// parseCountIn reads a status line "<word> N in D".
func parseCountIn(t *testing.T, line string) (uint64, time.Duration) {
	t.Helper()
	f := strings.Fields(line)
	require.Len(t, f, 4, line)
	require.Equal(t, "in", f[2], line)
	n, err := strconv.ParseUint(f[1], 10, 64)
	require.NoError(t, err, line)
	d, err := time.ParseDuration(f[3])
	require.NoError(t, err, line)
	return n, d
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// childStats reads the progress snapshots and the final one that
// streamchild printed.
func childStats(t *testing.T, logPath string) (progress []processor.Stats, final processor.Stats) {
	t.Helper()
	f, err := os.Open(logPath)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var sawFinal bool
	decode := func(b []byte) processor.Stats {
		var st processor.Stats
		require.NoError(t, json.Unmarshal(b, &st), "%s", b)
		return st
	}
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("progress ")); ok {
			progress = append(progress, decode(rest))
		} else if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("final ")); ok {
			final, sawFinal = decode(rest), true
		}
	}
	require.NoError(t, sc.Err())
	require.True(t, sawFinal, "no final stats in %s", logPath)
	return progress, final
}

// memorySampler reads a child's resident memory every memorySampleEvery
// until it exits or stop is called.
type memorySampler struct {
	mu       sync.Mutex
	last     harness.Memory // the latest sample
	maxRSS   int64          // the largest RSS sampled
	phaseMax int64          // the largest RSS sampled since the last phase call
	quit     chan struct{}
	done     chan struct{}
}

func sampleMemory(p *harness.Process) *memorySampler {
	s := &memorySampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(memorySampleEvery)
		defer ticker.Stop()
		for {
			// An exited child (a zombie until reaped, then gone) has no
			// memory to read: the last sample stands.
			if m, err := harness.ReadMemory(p.Pid()); err == nil {
				s.mu.Lock()
				s.last, s.maxRSS, s.phaseMax = m, max(s.maxRSS, m.RSS), max(s.phaseMax, m.RSS)
				s.mu.Unlock()
			}
			select {
			case <-s.quit:
				return
			case <-p.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return s
}

// peak returns the latest sample, with the peak so far as its HWM: the
// kernel's VmHWM, or a larger RSS sampled before (VmHWM follows the
// resident set through per-thread counters that it folds in now and
// then, and was seen 0.2 MiB below an earlier VmRSS).
func (s *memorySampler) peak() harness.Memory {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.last
	m.HWM = max(m.HWM, s.maxRSS)
	return m
}

// phase returns the largest RSS sampled since its previous call (or the
// start), and starts a new phase.
func (s *memorySampler) phase() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.phaseMax
	s.phaseMax = 0
	return m
}

// stop ends the sampling (again: a no-op) and returns the peak.
func (s *memorySampler) stop() harness.Memory {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
	return s.peak()
}
