package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
)

// childEnv makes the test binary act as the program's child, so the
// re-execution path is tested end to end.
const childEnv = "STEADYLOG_MEMORY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestParentRunsEachProcessorInItsOwnChild(t *testing.T) {
	cfg, err := parseFlags([]string{"-duration", "150ms", "-body", "65536", "-delay", "5ms",
		"-max-queue-bytes", "1048576"}, io.Discard)
	require.NoError(t, err)
	var stdout bytes.Buffer
	rows, err := runParent(cfg, os.Args[0], append(os.Environ(), childEnv+"=1"), &stdout)
	require.NoError(t, err)
	require.Len(t, rows, 2)

	for i, impl := range []string{harness.ImplSDK, harness.ImplSteadylog} {
		r := rows[i]
		assert.Equal(t, impl, r.Impl)
		assert.Empty(t, r.Err)
		assert.False(t, r.Aborted)
		assert.Positive(t, r.PeakRSSBytes)
		assert.Positive(t, r.Emitted)
		assert.Positive(t, r.Exported)
		assert.LessOrEqual(t, r.Exported, r.Emitted)
		assert.Equal(t, 65536, r.BodyBytes)
	}
	assert.Zero(t, rows[0].MaxQueueBytes, "the SDK has no byte bound")
	assert.Equal(t, int64(1<<20), rows[1].MaxQueueBytes)
	assert.Contains(t, stdout.String(), "peak RSS")

	var table bytes.Buffer
	printTable(&table, rows)
	assert.Contains(t, table.String(), "1 MiB")
}

func TestChildStopsAtRSSGuard(t *testing.T) {
	cfg, err := parseFlags([]string{"-child", "sdk", "-duration", "1h", "-body", "4096",
		"-delay", "1ms", "-abort-rss", "1"}, io.Discard)
	require.NoError(t, err)
	start := time.Now()
	r := runChild(cfg)
	assert.True(t, r.Aborted, "any process is larger than 1 byte")
	assert.Contains(t, r.AbortReason, "abort-rss")
	assert.Less(t, time.Since(start), time.Minute, "the guard ended the hour-long window")
}

func TestParseChildOutput(t *testing.T) {
	m, err := parseChildOutput([]byte("noise\n" + resultPrefix + `{"impl":"sdk","peak_rss_bytes":42}` + "\n"))
	require.NoError(t, err)
	assert.Equal(t, "sdk", m.Impl)
	assert.Equal(t, int64(42), m.PeakRSSBytes)

	_, err = parseChildOutput([]byte("nothing here\n"))
	require.ErrorIs(t, err, errNoResult)
	_, err = parseChildOutput([]byte(resultPrefix + "{not json\n"))
	require.ErrorContains(t, err, "bad result line")
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, cfg.duration)
	assert.Equal(t, 1<<20, cfg.bodyBytes)
	assert.Equal(t, 100*time.Millisecond, cfg.delay)
	assert.Equal(t, int64(64<<20), cfg.maxQueueBytes)
	assert.Empty(t, cfg.child)
	assert.Empty(t, cfg.goMemLimit)

	back, err := parseFlags(cfg.childArgs("steadylog"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "steadylog", back.child)
	assert.Equal(t, cfg.duration, back.duration)
	assert.Equal(t, cfg.maxQueueBytes, back.maxQueueBytes)

	for _, bad := range [][]string{
		{"-child", "sdk,steadylog"},
		{"-child", "simple"},
		{"-impl", "x"},
		{"-duration", "0s"},
		{"-body", "0"},
		{"-delay", "-1s"},
		{"-producers", "0"},
		{"-max-queue-bytes", "0"},
		{"-abort-rss", "0"},
		{"-gomemlimit", "160MB"},
		{"-gomemlimit", "lots"},
		{"-gomemlimit", "-1MiB"},
		{"-gomemlimit", "MiB"},
	} {
		_, err := parseFlags(bad, io.Discard)
		require.ErrorIs(t, err, errBadFlag, bad)
	}
}

func TestParseFlagsAcceptsVariantsAndLimit(t *testing.T) {
	cfg, err := parseFlags([]string{"-impl", "sdk,steadylog-noheap,steadylog", "-gomemlimit", "160MiB"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{harness.ImplSDK, harness.ImplSteadylogNoHeap, harness.ImplSteadylog}, cfg.impls)
	assert.Equal(t, "160MiB", cfg.goMemLimit)

	back, err := parseFlags(cfg.childArgs(harness.ImplSteadylogNoHeap), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, harness.ImplSteadylogNoHeap, back.child)
}

func TestParseMemLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"160MiB": 160 << 20, "1GiB": 1 << 30, "2TiB": 2 << 40, "512KiB": 512 << 10,
		"100B": 100, "4096": 4096, "0": 0, "off": math.MaxInt64,
	} {
		got, err := parseMemLimit(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "160MB", "160 MiB", "1.5GiB", "-1", "MiB", "OFF", "99999999999TiB"} {
		_, err := parseMemLimit(bad)
		require.Error(t, err, bad)
	}
}

func TestWithMemLimitReplacesTheParentsValue(t *testing.T) {
	env := []string{"HOME=/root", "GOMEMLIMIT=1GiB", "PATH=/bin"}
	assert.Equal(t, env, withMemLimit(env, ""), "no -gomemlimit: inherited")
	got := withMemLimit(env, "160MiB")
	assert.Equal(t, []string{"HOME=/root", "PATH=/bin", "GOMEMLIMIT=160MiB"}, got)
	assert.Equal(t, "GOMEMLIMIT=1GiB", env[1], "the parent's environment is untouched")
}

// With a memory limit far below the byte bound, the monitored processor
// must shed as heap_pressure and the unmonitored one never; both children
// must see the limit.
func TestHeapMonitorShedsUnderGOMEMLIMIT(t *testing.T) {
	cfg, err := parseFlags([]string{"-impl", "steadylog-noheap,steadylog", "-gomemlimit", "4MiB",
		"-duration", "500ms", "-body", "65536", "-delay", "50ms", "-max-queue-bytes", "8388608"}, io.Discard)
	require.NoError(t, err)
	var stdout bytes.Buffer
	rows, err := runParent(cfg, os.Args[0], append(os.Environ(), childEnv+"=1"), &stdout)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	for _, r := range rows {
		assert.Empty(t, r.Err, r.Impl)
		assert.Equal(t, int64(4<<20), r.MemLimitBytes, r.Impl)
		assert.True(t, r.CountsDrops, r.Impl)
		assert.Positive(t, r.Exported, r.Impl)
		assert.Equal(t, r.Emitted, r.Exported+r.Dropped, "%s: every record exported or dropped", r.Impl)
	}
	assert.Equal(t, harness.ImplSteadylogNoHeap, rows[0].Impl)
	assert.Zero(t, rows[0].DropReason["heap_pressure"], "no monitor, no heap_pressure")
	assert.Equal(t, harness.ImplSteadylog, rows[1].Impl)
	assert.Positive(t, rows[1].DropReason["heap_pressure"], "the heap passed 85%% of 4 MiB")

	var table bytes.Buffer
	printTable(&table, rows)
	assert.Contains(t, table.String(), "4 MiB")
	assert.Contains(t, table.String(), "heap_pressure=")
}

func TestFormatReasons(t *testing.T) {
	assert.Equal(t, "n/a", formatReasons(harness.Memory{}))
	assert.Equal(t, "none", formatReasons(harness.Memory{CountsDrops: true}))
	assert.Equal(t, "byte_limit=3 heap_pressure=7", formatReasons(harness.Memory{CountsDrops: true,
		DropReason: map[string]uint64{"heap_pressure": 7, "byte_limit": 3}}))
	assert.Equal(t, "-", formatLimit(0))
	assert.Equal(t, "160 MiB", formatLimit(160<<20))
	assert.Equal(t, "1.5 MiB", formatLimit(3<<19))
}
