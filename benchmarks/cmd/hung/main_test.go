package main

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunMeasuresBothProcessorsAgainstAHungExporter(t *testing.T) {
	out := filepath.Join(t.TempDir(), "h.json")
	var stdout bytes.Buffer
	// The exporter hangs for an hour, so Shutdown's 50 ms deadline always
	// ends first while records are still queued or in flight.
	err := mainErr([]string{"-duration", "100ms", "-rate", "20000", "-hold", "1h",
		"-shutdown-timeout", "50ms", "-json", out}, &stdout, io.Discard)
	require.NoError(t, err)

	var rep harness.Report[harness.Hung]
	require.NoError(t, harness.ReadJSON(out, &rep))
	require.Len(t, rep.Results, 2)
	for _, r := range rep.Results {
		assert.Positive(t, r.Emitted, r.Impl)
		assert.Positive(t, r.P50NS, r.Impl)
		assert.LessOrEqual(t, r.P50NS, r.P99NS, r.Impl)
		assert.LessOrEqual(t, r.P99NS, r.P999NS, r.Impl)
		assert.LessOrEqual(t, r.P999NS, r.MaxNS, r.Impl)
		assert.Zero(t, r.Exported, "%s: nothing returns from an hour-long export", r.Impl)
		assert.InDelta(t, 100.0, r.LostPct, 1e-9, r.Impl)
		assert.Contains(t, r.ShutdownErr, "deadline exceeded", r.Impl)
	}
	assert.False(t, rep.Results[0].CountsDrops)
	assert.True(t, rep.Results[1].CountsDrops)
	assert.Equal(t, rep.Results[1].Emitted, rep.Results[1].Dropped,
		"steadylog counts every record it could not deliver")
	assert.Contains(t, stdout.String(), "p99.9")
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.goroutines)
	assert.InDelta(t, 50000.0, cfg.rate, 0)
	assert.Equal(t, 10*time.Second, cfg.duration)
	assert.Equal(t, 2*time.Second, cfg.hold)

	for _, bad := range [][]string{
		{"-goroutines", "0"},
		{"-rate", "0"},
		{"-duration", "0s"},
		{"-hold", "-1s"},
		{"-shutdown-timeout", "0s"},
		{"-impl", "x"},
	} {
		_, err := parseFlags(bad, io.Discard)
		require.ErrorIs(t, err, errBadFlag, bad)
	}
}
