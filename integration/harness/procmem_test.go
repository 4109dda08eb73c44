package harness

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatusMemory(t *testing.T) {
	m, err := parseStatusMemory([]byte("Name:\tx\nVmPeak:\t  9 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t3\n"))
	require.NoError(t, err)
	assert.Equal(t, Memory{RSS: 1 << 20, HWM: 2 << 20}, m)

	_, err = parseStatusMemory([]byte("Name:\tzombie\nState:\tZ (zombie)\n"))
	assert.ErrorIs(t, err, ErrNoMemory)
	_, err = parseStatusMemory([]byte("VmHWM:\t12 MB\nVmRSS:\t1 kB\n"))
	assert.Error(t, err, "a unit other than kB")
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/status is Linux's")
	}
	m, err := ReadMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, m.RSS)
	assert.GreaterOrEqual(t, m.HWM, m.RSS, "the peak is at least the current size")
}
