package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ih "github.com/steadylog/steadylog/integration/harness"
)

// TestMain lets the test binary be re-executed as the service, as the
// command's binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == roleFlag {
		if err := serviceMain(os.Args[2:]); err != nil {
			os.Stderr.WriteString("service: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func tinySettings(t *testing.T) settings {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	return settings{
		otelcol: ih.OtelcolBin(t), self: self, clients: 4,
		warmup: 200 * time.Millisecond, duration: 2500 * time.Millisecond, faultAt: 300 * time.Millisecond,
		shutdown: 2 * time.Second, pairs: 1, workDir: t.TempDir(), logf: t.Logf,
	}
}

// TestBenchmarkTiny runs the whole benchmark in a tiny configuration — one
// pair of the 1 s blip, then a healthy steadylog run and a no-logging run —
// against the real Collector, so that the instrument keeps working. It
// checks the accounting, not performance.
func TestBenchmarkTiny(t *testing.T) {
	s := tinySettings(t)
	s.scens = []string{scenBlip}
	s.sample = 100 * time.Millisecond
	dir := t.TempDir()
	rep, err := run(s, false, "test", filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md"))
	require.NoError(t, err)
	require.Len(t, rep.Runs, 2)
	for _, r := range rep.Runs {
		t.Logf("%s: %+v", r.Impl, r)
		assert.Positive(t, r.Requests, r.Impl)
		assert.Positive(t, r.Emitted, r.Impl)
		assert.Positive(t, r.Received, r.Impl)
		assert.LessOrEqual(t, r.Received, r.Emitted, r.Impl)
		assert.Equal(t, r.Emitted-r.Received, r.Lost, r.Impl)
		assert.Positive(t, r.WindowEmitted, r.Impl)
		assert.LessOrEqual(t, r.WindowLost, r.WindowEmitted, r.Impl)
		assert.Greater(t, r.Recovered, r.FaultStart, r.Impl)
		assert.Positive(t, r.CPUPerReqUS, r.Impl)
		assert.Positive(t, r.ExportCalls, r.Impl)
		checkTimeline(t, r)
		if r.Impl == implSteadylog {
			require.NotNil(t, r.StatsExported)
			// A SIGKILL may strand records the Collector acknowledged in
			// its file exporter's buffer; the count may differ by those.
			t.Logf("steadylog Stats().Exported - received = %d", *r.ExportedMinusReceived)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "r.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| blip (1) |")
	_, err = os.Stat(filepath.Join(dir, "r.json"))
	require.NoError(t, err)

	var saved Report
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &saved))
	require.Len(t, saved.Runs, 2)
	for _, r := range saved.Runs {
		require.NotNil(t, r.Timeline, "the JSON keeps the timeline (%s)", r.Impl)
		assert.Equal(t, len(rep.Runs[r.Seq].Timeline.Samples), len(r.Timeline.Samples))
	}

	s.duration, s.sample = time.Second, 0
	r, err := runOne(s, scenHealthy, implSteadylog, 0, 0)
	require.NoError(t, err)
	require.NotNil(t, r.StatsExported)
	assert.Positive(t, r.Received)
	assert.Equal(t, int64(*r.StatsExported), r.Received, "Stats().Exported must equal what the Collector received")
	assert.Zero(t, r.Duplicates)
	assert.Nil(t, r.Timeline, "no -sample, no timeline")

	r, err = runOne(s, scenHealthy, implNolog, 0, 1)
	require.NoError(t, err)
	assert.Positive(t, r.Requests)
	assert.Zero(t, r.Emitted)
	assert.Zero(t, r.ExportCalls)
}

func TestSettingsValidate(t *testing.T) {
	s := settings{otelcol: "x", clients: 1, pairs: 1, duration: 10 * time.Second, faultAt: 5 * time.Second,
		shutdown: time.Second, scens: []string{scenKill5}}
	assert.Error(t, s.validate(), "5 s + 5 s + 1 s does not fit in 10 s")
	s.duration = 11 * time.Second
	assert.NoError(t, s.validate())
	s.scens = []string{"nope"}
	assert.Error(t, s.validate())
	s.scens, s.otelcol = []string{scenHealthy}, ""
	assert.Error(t, s.validate())
}

func TestOrderAlternates(t *testing.T) {
	assert.Equal(t, []string{implSDK, implSteadylog}, order(scenKill5, 0, true))
	assert.Equal(t, []string{implSteadylog, implSDK}, order(scenKill5, 1, true))
	assert.Equal(t, []string{implSDK, implSteadylog, implNolog}, order(scenHealthy, 2, true))
	assert.Equal(t, []string{implNolog, implSteadylog, implSDK}, order(scenHealthy, 3, true))
	assert.Equal(t, []string{implSDK, implSteadylog}, order(scenHealthy, 0, false))
}

func TestSeqAt(t *testing.T) {
	tl := []SeqSample{{At: 100, Seq: 10}, {At: 200, Seq: 30}, {At: 300, Seq: 30}}
	assert.Equal(t, uint64(10), seqAt(tl, 50))
	assert.Equal(t, uint64(10), seqAt(tl, 100))
	assert.Equal(t, uint64(20), seqAt(tl, 150))
	assert.Equal(t, uint64(30), seqAt(tl, 250))
	assert.Equal(t, uint64(30), seqAt(tl, 999))
	assert.Zero(t, seqAt(nil, 5))
}

func TestPairedRatios(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	sl := map[int]RunResult{
		0: {Impl: implSteadylog, RPS: 110, Recovered: 1, WindowLostShare: 0.5, FirstOKAfterMs: f(10)},
		1: {Impl: implSteadylog, RPS: 90, Recovered: 1, WindowLostShare: 0.2},
		2: {Impl: implSteadylog, RPS: 120, Recovered: 1, WindowLostShare: 0.3},
	}
	sdk := map[int]RunResult{
		0: {Impl: implSDK, RPS: 100, Recovered: 1, WindowLostShare: 1},
		1: {Impl: implSDK, RPS: 100, Recovered: 1, WindowLostShare: 0}, // left out of the loss ratio
		2: {Impl: implSDK, RPS: 100, Recovered: 1, WindowLostShare: 0.6},
	}
	r := pairedRatios(sl, sdk)
	assert.InDelta(t, 1.1, r["requests_per_s"].Median, 1e-9)
	assert.InDelta(t, 0.9, r["requests_per_s"].Min, 1e-9)
	assert.InDelta(t, 1.2, r["requests_per_s"].Max, 1e-9)
	assert.Equal(t, 2, r["window_lost_share"].N)
	assert.InDelta(t, 0.5, r["window_lost_share"].Median, 1e-9)
	_, ok := r["first_ok_after_recovery_ms"]
	assert.False(t, ok, "no pair has both")
}

// checkTimeline checks a run's Timeline against the run's own totals: time
// moves forward, counts never go back, and the last sample is consistent
// with what the service and the Collector reported.
func checkTimeline(t *testing.T, r RunResult) {
	t.Helper()
	tl := r.Timeline
	require.NotNil(t, tl, r.Impl)
	assert.Equal(t, 100.0, tl.IntervalMs)
	require.Greater(t, len(tl.Samples), 10, r.Impl)
	first, last := tl.Samples[0], tl.Samples[len(tl.Samples)-1]
	assert.Less(t, first.At, tl.Start, "%s: sampling starts in the warm-up", r.Impl)
	assert.Greater(t, last.At, r.Recovered, "%s: and ends after the fault", r.Impl)
	var failedSeen bool
	for i, smp := range tl.Samples {
		assert.GreaterOrEqual(t, smp.Queued, int64(0), r.Impl)
		assert.LessOrEqual(t, smp.ExportOK, smp.Emitted, "%s sample %d: exported more than emitted", r.Impl, i)
		if r.Impl == implSDK {
			// The SDK does not retry: a record is in one export call at most.
			assert.LessOrEqual(t, smp.ExportOK+smp.ExportFailedRecords, smp.Emitted, "%s sample %d", r.Impl, i)
		}
		failedSeen = failedSeen || smp.ExportFailedCalls > 0
		if i == 0 {
			continue
		}
		prev := tl.Samples[i-1]
		assert.Greater(t, smp.At, prev.At, "%s sample %d: time", r.Impl, i)
		assert.GreaterOrEqual(t, smp.Emitted, prev.Emitted, "%s sample %d: emitted", r.Impl, i)
		assert.GreaterOrEqual(t, smp.ExportOK, prev.ExportOK, "%s sample %d: exported", r.Impl, i)
		for reason, n := range prev.Dropped {
			assert.GreaterOrEqual(t, smp.Dropped[reason], n, "%s sample %d: dropped %s", r.Impl, i, reason)
		}
	}
	// Sampling ends after Shutdown: every record has been emitted.
	assert.Equal(t, uint64(r.Emitted), last.Emitted, r.Impl)
	assert.True(t, failedSeen, "%s: the Collector's kill fails an export", r.Impl)
	switch r.Impl {
	case implSteadylog:
		require.NotNil(t, last.QueuedBytes)
		require.NotNil(t, last.Breaker)
		assert.Equal(t, *r.StatsExported, last.ExportOK, "steadylog: Stats().Exported equals the wrapper's count")
		var dropped uint64
		for _, n := range last.Dropped {
			dropped += n
		}
		assert.Equal(t, uint64(r.Emitted), last.ExportOK+dropped+uint64(last.Queued), "steadylog: every record accounted for")
	case implSDK:
		assert.Nil(t, last.QueuedBytes)
		assert.Nil(t, last.Breaker)
	}
	require.NotEmpty(t, tl.Collector, r.Impl)
	for i := 1; i < len(tl.Collector); i++ {
		assert.Greater(t, tl.Collector[i].At, tl.Collector[i-1].At, "%s collector sample %d", r.Impl, i)
		assert.GreaterOrEqual(t, tl.Collector[i].Accepted, tl.Collector[i-1].Accepted, "%s collector sample %d", r.Impl, i)
	}
	assert.LessOrEqual(t, tl.Collector[len(tl.Collector)-1].Accepted, float64(r.Emitted), r.Impl)
}

func TestFillExports(t *testing.T) {
	samples := []Sample{{At: 10}, {At: 20}, {At: 30}}
	fillExports(samples, []ExportCall{
		{Start: 12, End: 25, Records: 5, OK: false},
		{Start: 1, End: 9, Records: 3, OK: true},
		{Start: 15, End: 20, Records: 7, OK: true},
		{Start: 28, End: 40, Records: 100, OK: true}, // ends after the last sample
	})
	assert.Equal(t, []Sample{
		{At: 10, ExportOK: 3},
		{At: 20, ExportOK: 10},
		{At: 30, ExportOK: 10, ExportFailedRecords: 5, ExportFailedCalls: 1},
	}, samples)
}
