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

func TestRunAccountsForEveryRecord(t *testing.T) {
	for _, path := range []string{pathEmit, pathOnEmit} {
		t.Run(path, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "s.json")
			var stdout bytes.Buffer
			err := mainErr([]string{"-goroutines", "2,3", "-duration", "30ms", "-path", path, "-json", out},
				&stdout, io.Discard)
			require.NoError(t, err)

			var rep harness.Report[harness.Sustained]
			require.NoError(t, harness.ReadJSON(out, &rep))
			require.Len(t, rep.Results, 4, "2 goroutine counts × 2 processors")
			for _, r := range rep.Results {
				assert.Positive(t, r.Emitted, r.Impl)
				assert.Positive(t, r.ExportedTotal, r.Impl)
				assert.LessOrEqual(t, r.ExportedInWindow, r.ExportedTotal, r.Impl)
				assert.Empty(t, r.ShutdownErr, r.Impl)
				assert.Zero(t, r.Unaccounted, "%s: emitted = exported + dropped", r.Impl)
				assert.Equal(t, path, r.Path)
			}
			assert.Equal(t, "stats", rep.Results[1].DropSource)
			assert.Equal(t, "emitted-exported", rep.Results[0].DropSource)
			assert.Contains(t, stdout.String(), "exported/s")
			assert.Contains(t, stdout.String(), "steadylog")
		})
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 8, 64}, cfg.goroutines)
	assert.Equal(t, 5*time.Second, cfg.duration)
	assert.Equal(t, []string{harness.ImplSDK, harness.ImplSteadylog}, cfg.impls)
	assert.Equal(t, pathEmit, cfg.path)
	assert.Equal(t, harness.ShapeSmall, cfg.shape.Name)

	for _, bad := range [][]string{
		{"-goroutines", "2,x"},
		{"-goroutines", "0"},
		{"-duration", "0s"},
		{"-impl", "simple"},
		{"-path", "slog"},
		{"-shape", "huge"},
	} {
		_, err := parseFlags(bad, io.Discard)
		require.ErrorIs(t, err, errBadFlag, bad)
	}
	_, err = parseFlags([]string{"-nope"}, io.Discard)
	require.Error(t, err)
}
