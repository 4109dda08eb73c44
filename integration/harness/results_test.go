package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteResultsOnlyWhenAsked(t *testing.T) {
	t.Setenv(EnvResultsDir, "")
	assert.Empty(t, WriteResults(t, "x.json", map[string]int{"a": 1}))

	dir := filepath.Join(t.TempDir(), "results")
	t.Setenv(EnvResultsDir, dir)
	path := WriteResults(t, "x.json", map[string]int{"a": 1})
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a": 1}`, string(b))
}
