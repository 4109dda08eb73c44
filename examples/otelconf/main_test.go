package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunEmbeddedConfig builds the SDK from the embedded config.yaml: both
// records go through steadylog's processor, which otelconf's shutdown shut
// down with the LoggerProvider.
func TestRunEmbeddedConfig(t *testing.T) {
	st, err := run(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.Received)
	assert.Equal(t, uint64(2), st.Exported)
	assert.Zero(t, st.TotalDropped())
}

// TestRunRejectsConfigsThatBypassSteadylog: without logger_provider otelconf
// builds a no-op provider and ignores the processor option; with processors
// the SDK's batch processor would export everything a second time.
func TestRunRejectsConfigsThatBypassSteadylog(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	_, err := run(context.Background(), write("none.yaml", "file_format: \"1.0-rc.2\"\n"))
	assert.ErrorContains(t, err, "no logger_provider")
	_, err = run(context.Background(), write("batch.yaml", `file_format: "1.0-rc.2"
logger_provider:
  processors:
    - batch:
        exporter:
          console: {}
`))
	assert.ErrorContains(t, err, "has 1 processors")
}
