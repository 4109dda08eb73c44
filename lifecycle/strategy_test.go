package lifecycle_test

import (
	"flag"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/lifecycle"
)

func TestStrategyStringAndParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		s    lifecycle.Strategy
		text string
	}{
		{lifecycle.Immediate, "immediate"},
		{lifecycle.Flush, "flush"},
		{lifecycle.Graceful, "graceful"},
		{lifecycle.GracefulWithin(lifecycle.DefaultGracefulShare), "graceful"},
		{lifecycle.GracefulWithin(0.5), "graceful(0.5)"},
		{lifecycle.GracefulWithin(1), "graceful(1)"},
	} {
		assert.Equal(t, tc.text, tc.s.String())
		got, err := lifecycle.ParseStrategy(tc.text)
		require.NoError(t, err, tc.text)
		assert.Equal(t, tc.s, got, "strategies are comparable values")
	}
	got, err := lifecycle.ParseStrategy("  Graceful( 0.25 ) ")
	require.NoError(t, err)
	assert.Equal(t, lifecycle.GracefulWithin(0.25), got)
	assert.Equal(t, "invalid", lifecycle.Strategy{}.String())
}

func TestStrategyShare(t *testing.T) {
	assert.Equal(t, lifecycle.DefaultGracefulShare, lifecycle.Graceful.Share())
	assert.Equal(t, 0.3, lifecycle.GracefulWithin(0.3).Share())
	assert.Zero(t, lifecycle.Flush.Share())
	assert.Zero(t, lifecycle.Immediate.Share())
}

func TestParseStrategyRejectsBadText(t *testing.T) {
	for _, text := range []string{"", "fast", "graceful(", "graceful()", "graceful(x)", "graceful(0)",
		"graceful(1.01)", "graceful(-1)", "graceful(NaN)", "flush(0.5)"} {
		_, err := lifecycle.ParseStrategy(text)
		assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy, "%q", text)
	}
}

func TestStrategyText(t *testing.T) {
	b, err := lifecycle.GracefulWithin(0.5).MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "graceful(0.5)", string(b))
	_, err = lifecycle.GracefulWithin(math.Inf(1)).MarshalText()
	assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy)
	_, err = lifecycle.Strategy{}.MarshalText()
	assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy)

	var s lifecycle.Strategy
	require.NoError(t, s.UnmarshalText([]byte("flush")))
	assert.Equal(t, lifecycle.Flush, s)
	assert.ErrorIs(t, s.UnmarshalText([]byte("later")), lifecycle.ErrInvalidStrategy)
	assert.Equal(t, lifecycle.Flush, s, "a failed UnmarshalText leaves the value alone")

	// As a flag.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var fv lifecycle.Strategy
	fs.TextVar(&fv, "strategy", lifecycle.Graceful, "shutdown strategy")
	require.NoError(t, fs.Parse([]string{"-strategy", "immediate"}))
	assert.Equal(t, lifecycle.Immediate, fv)
	assert.Error(t, fs.Parse([]string{"-strategy", "bogus"}))
}

func TestOpString(t *testing.T) {
	assert.Equal(t, "shutdown", lifecycle.OpShutdown.String())
	assert.Equal(t, "force_flush", lifecycle.OpForceFlush.String())
	assert.Equal(t, "hook", lifecycle.OpHook.String())
	assert.Equal(t, "Op(9)", lifecycle.Op(9).String())
}
