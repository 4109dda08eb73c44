package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitName(t *testing.T) {
	fam, config, impl, ok := splitName("BenchmarkOnEmit/shape=small/par=serial/impl=sdk-2")
	require.True(t, ok)
	assert.Equal(t, "OnEmit", fam)
	assert.Equal(t, "shape=small/par=serial", config)
	assert.Equal(t, "sdk", impl)

	fam, config, impl, ok = splitName("BenchmarkEmit/impl=noop")
	require.True(t, ok, "no procs suffix when GOMAXPROCS is 1")
	assert.Equal(t, "Emit", fam)
	assert.Empty(t, config)
	assert.Equal(t, "noop", impl)

	_, _, _, ok = splitName("BenchmarkOther/shape=small-8")
	assert.False(t, ok, "names without impl= are not comparisons")
}

func TestMedian(t *testing.T) {
	_, ok := median(nil)
	assert.False(t, ok)
	m, _ := median([]float64{5, 1, 3})
	assert.InDelta(t, 3.0, m, 0)
	m, _ = median([]float64{4, 1, 3, 2})
	assert.InDelta(t, 2.5, m, 0)
}

func TestParseBench(t *testing.T) {
	f, err := os.Open("testdata/bench.txt")
	require.NoError(t, err)
	defer f.Close()
	d, err := parseBench(f)
	require.NoError(t, err)

	assert.Equal(t, "Test CPU @ 1.00GHz", d.header["cpu"])
	require.Len(t, d.families, 4, "OnEmit, Emit, OnEmitHung, EmitDestinations; the impl-less benchmark is skipped")
	assert.Equal(t, []string{"sdk", "steadylog", "noop"}, d.byName["Emit"].impls)

	v, ok := d.median("OnEmit", "shape=small/par=serial", "sdk", "ns/op")
	require.True(t, ok)
	assert.InDelta(t, 120.0, v, 0, "the median ignores the 500 ns outlier")
	v, _ = d.median("Emit", "shape=small", "noop", "ns/op")
	assert.InDelta(t, 850.0, v, 0)
	_, ok = d.median("Emit", "shape=small", "noop", "dropped-%")
	assert.False(t, ok, "noop reports no drops")
	_, ok = d.median("Missing", "x", "sdk", "ns/op")
	assert.False(t, ok)
}

func TestParseBenchRejects(t *testing.T) {
	_, err := parseBench(strings.NewReader("PASS\nok pkg 1s\n"))
	require.ErrorIs(t, err, errNoBenchmarks)
	_, err = parseBench(strings.NewReader("BenchmarkX/impl=sdk-2 10 abc ns/op\n"))
	require.ErrorContains(t, err, "bad value")
}

func TestSummaryFromFixedInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "summary.md")
	err := mainErr([]string{"-bench", "testdata/bench.txt", "-sustained", "testdata/sustained.json",
		"-memory", "testdata/memory.json", "-hung", "testdata/hung.json", "-note", "fixture run", "-o", out},
		io.Discard, io.Discard)
	require.NoError(t, err)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	md := string(b)

	for _, want := range []string{
		"fixture run",
		// OnEmit: medians 120 vs 60 ns, ratio 0.50×, drops 3 → 0, B/op 0 → 16.
		"| shape=small/par=serial | 120.0 ns | 60.0 ns | 0.50× | 0 → 0 | 0 → 16 | 3 → 0 |",
		// Emit small: noop 850, sdk 1750, steadylog 1150; shares 900 vs 300 ns.
		"| shape=small | 850.0 ns | 1.75 µs | 1.15 µs | 0.66× | 900.0 ns | 300.0 ns | 0.33× | 1 / 1 / 1 |",
		"| Emit shape=small: processor share ≤ 0.5 × SDK's | 300.0 ns vs 900.0 ns = 0.33× | **PASS** |",
		// Emit large: shares 1000 vs 900 ns.
		"| Emit shape=large: processor share ≤ 0.5 × SDK's | 900.0 ns vs 1.00 µs = 0.90× | **FAIL** |",
		// Destinations: steadylog's share 250 ns with two, 200 ns with one
		// (serial); 250 ns with two, 100 ns with one (32 goroutines).
		"| EmitDestinations par=serial: share with 2 destinations ≤ 1.3 × with 1 | 250.0 ns vs 200.0 ns = 1.25× | **PASS** |",
		"| EmitDestinations par=32: share with 2 destinations ≤ 1.3 × with 1 | 250.0 ns vs 100.0 ns = 2.50× | **FAIL** |",
		// Sustained N=64: 100 vs 60 exported/s, 50 % vs 70 % dropped.
		"| sustained N=64: exported/s ≥ 2 × SDK's | 100 vs 60 /s = 1.67× | **FAIL** |",
		"| sustained N=64: drop % ≤ ⅓ of SDK's | 50.00 % vs 70.00 % = 0.71× | **FAIL** |",
		"| 64 | 200 | 200 | 60 | 100 | 1.67× | 70.00 | 50.00 | 0.71× |",
		// Memory: 200 MiB with the bound, SDK 4608 MiB.
		"| memory, 1 MiB bodies, WithMaxQueueBytes: peak RSS ≤ 256 MiB | 200 MiB (queue bound 64 MiB); SDK 4608 MiB | **PASS** |",
		"| sdk | none (count only) | 4608 |",
		// Hung: program p99 600 vs 500 ns fails, benchmark p99 300 vs 400 ns passes.
		"| hung exporter: OnEmit p99 ≤ SDK's (cmd/hung) | 600.0 ns vs 500.0 ns | **FAIL** |",
		"| hung exporter: OnEmit p99 ≤ SDK's (OnEmitHung shape=small) | 300.0 ns vs 400.0 ns | **PASS** |",
		"| steadylog | 90.0 ns | 600.0 ns | 8.00 µs | 280.00 µs | 99.40 | 497000 | 2.001s | context deadline exceeded |",
	} {
		assert.Contains(t, md, want)
	}
}

func TestSummaryMarksMissingPartsNotRun(t *testing.T) {
	var stdout bytes.Buffer
	require.NoError(t, mainErr([]string{"-bench", "testdata/bench.txt"}, &stdout, io.Discard))
	md := stdout.String()
	assert.Equal(t, 3, strings.Count(md, "Not run."), "sustained, memory and hung")
	assert.NotContains(t, md, "sustained N=")
}

func TestSummaryErrors(t *testing.T) {
	require.ErrorIs(t, mainErr(nil, io.Discard, io.Discard), errBadFlag)
	require.Error(t, mainErr([]string{"-bench", "testdata/missing.txt"}, io.Discard, io.Discard))
	require.Error(t, mainErr([]string{"-bench", "testdata/bench.txt", "-hung", "testdata/missing.json"},
		io.Discard, io.Discard))
	require.Error(t, mainErr([]string{"-bench", "testdata/hung.json"}, io.Discard, io.Discard),
		"a JSON file is not benchmark output")
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "91.0 ns", fmtNS(91))
	assert.Equal(t, "1.78 µs", fmtNS(1780))
	assert.Equal(t, "2.50 ms", fmtNS(2.5e6))
	assert.Equal(t, "5.00 s", fmtNS(5e9))
	assert.Equal(t, "–", fmtRatio(1, 0))
	assert.Equal(t, "0.50×", fmtRatio(1, 2))
	assert.Equal(t, "3", fmtNum(3))
	assert.Equal(t, "2.50", fmtNum(2.5))
}
