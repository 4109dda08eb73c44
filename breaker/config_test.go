package breaker

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZeroConfigDefaults(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	c, err := Config{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultConsecutiveFailures, c.ConsecutiveFailures)
	assert.Equal(t, DefaultFailureRateThreshold, c.FailureRateThreshold)
	assert.Equal(t, CountWindow, c.WindowKind)
	assert.Equal(t, DefaultWindowSize, c.WindowSize)
	assert.Zero(t, c.WindowDuration)
	assert.Equal(t, DefaultMinimumCalls, c.MinimumCalls)
	assert.Equal(t, DefaultSlowCallDuration, c.SlowCallDuration)
	assert.Equal(t, DefaultSlowCallRateThreshold, c.SlowCallRateThreshold)
	assert.Equal(t, DefaultOpenTimeout, c.OpenTimeout)
	assert.Equal(t, DefaultMaxOpenTimeout, c.MaxOpenTimeout)
	assert.Equal(t, DefaultBackoffMultiplier, c.BackoffMultiplier)
	assert.Equal(t, DefaultJitter, c.Jitter)
	assert.Equal(t, DefaultHalfOpenMaxCalls, c.HalfOpenMaxCalls)
	assert.Equal(t, DefaultHalfOpenMaxCalls, c.HalfOpenSuccesses)
	assert.Equal(t, DefaultHalfOpenMaxWait, c.HalfOpenMaxWait)
	assert.NotNil(t, c.Classify)
	assert.NotNil(t, c.Clock)
	assert.NotNil(t, c.Rand)
	r := c.Rand()
	assert.True(t, r >= 0 && r < 1)
	// The default Clock is the system clock: it tells a time between two
	// readings of it.
	assert.IsType(t, realClock{}, c.Clock)
	before := time.Now()
	now := c.Clock.Now()
	after := time.Now()
	assert.False(t, now.Before(before) || now.After(after), "%v not in [%v, %v]", now, before, after)
}

func TestDerivedDefaults(t *testing.T) {
	c, err := Config{WindowSize: 4}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 4, c.MinimumCalls, "the default minimum shrinks to a small window")

	c, err = Config{WindowKind: TimeWindow}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultWindowDuration, c.WindowDuration)
	assert.Zero(t, c.WindowSize)

	c, err = Config{OpenTimeout: 10 * time.Minute}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, c.MaxOpenTimeout, "the default cap grows to a long first wait")

	c, err = Config{HalfOpenMaxCalls: 4}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 4, c.HalfOpenSuccesses)
}

func TestInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{ConsecutiveFailures: -1}, "ConsecutiveFailures(-1)"},
		{Config{FailureRateThreshold: -0.1}, "FailureRateThreshold"},
		{Config{FailureRateThreshold: 1.5}, "FailureRateThreshold(1.5)"},
		{Config{FailureRateThreshold: math.NaN()}, "FailureRateThreshold"},
		{Config{WindowKind: 3}, "WindowKind"},
		{Config{WindowSize: -5}, "WindowSize(-5)"},
		{Config{WindowKind: TimeWindow, WindowDuration: -time.Second}, "WindowDuration(-1s)"},
		{Config{WindowDuration: time.Second}, "WindowDuration(1s): set"},
		{Config{WindowKind: TimeWindow, WindowSize: 10}, "WindowSize(10): set"},
		{Config{MinimumCalls: -1}, "MinimumCalls(-1)"},
		{Config{WindowSize: 5, MinimumCalls: 6}, "MinimumCalls (6) exceeds WindowSize (5)"},
		{Config{MinimumCalls: 101}, "MinimumCalls (101) exceeds WindowSize (100)"},
		{Config{SlowCallDuration: -1}, "SlowCallDuration"},
		{Config{SlowCallRateThreshold: 2}, "SlowCallRateThreshold(2)"},
		{Config{OpenTimeout: -time.Second}, "OpenTimeout(-1s)"},
		{Config{MaxOpenTimeout: -time.Second}, "MaxOpenTimeout(-1s)"},
		{Config{OpenTimeout: time.Minute, MaxOpenTimeout: time.Second}, "MaxOpenTimeout (1s) is smaller than OpenTimeout (1m0s)"},
		{Config{BackoffMultiplier: 0.5}, "BackoffMultiplier(0.5)"},
		{Config{BackoffMultiplier: math.NaN()}, "BackoffMultiplier"},
		{Config{Jitter: -0.1}, "Jitter(-0.1)"},
		{Config{Jitter: 1.1}, "Jitter(1.1)"},
		{Config{HalfOpenMaxCalls: -2}, "HalfOpenMaxCalls(-2)"},
		{Config{HalfOpenSuccesses: -1}, "HalfOpenSuccesses(-1)"},
		{Config{HalfOpenMaxWait: -time.Second}, "HalfOpenMaxWait(-1s)"},
		{Config{HalfOpenMaxCalls: 2, HalfOpenSuccesses: 3}, "HalfOpenSuccesses (3) exceeds HalfOpenMaxCalls (2)"},
		{Config{HalfOpenSuccesses: 2}, "HalfOpenSuccesses (2) exceeds HalfOpenMaxCalls (1)"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			err := tc.cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "steadylog/breaker: invalid Config: ")
			assert.Contains(t, err.Error(), tc.field)
			b, nerr := New(tc.cfg)
			assert.Nil(t, b)
			assert.EqualError(t, nerr, err.Error())
			assert.PanicsWithError(t, err.Error(), func() { MustNew(tc.cfg) })
		})
	}
}

func TestInvalidConfigReportsEveryField(t *testing.T) {
	err := Config{ConsecutiveFailures: -1, OpenTimeout: -1, Jitter: 2}.Validate()
	require.Error(t, err)
	for _, f := range []string{"ConsecutiveFailures", "OpenTimeout", "Jitter"} {
		assert.Contains(t, err.Error(), f)
	}
}

func TestBoundaryValuesAreValid(t *testing.T) {
	for _, cfg := range []Config{
		{FailureRateThreshold: 1, SlowCallRateThreshold: 1, Jitter: 1, BackoffMultiplier: 1},
		{ConsecutiveFailures: math.MaxInt, SlowCallDuration: math.MaxInt64},
		{WindowSize: 1, MinimumCalls: 1},
		{WindowKind: TimeWindow, WindowDuration: time.Nanosecond, MinimumCalls: 1000},
		{OpenTimeout: time.Second, MaxOpenTimeout: time.Second},
		{HalfOpenMaxCalls: 5, HalfOpenSuccesses: 5},
	} {
		assert.NoError(t, cfg.Validate(), "%+v", cfg)
		assert.NotPanics(t, func() { MustNew(cfg) })
	}
}
