package breaker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"

	"github.com/steadylog/steadylog/retry"
)

func openBreaker(t *testing.T, cfg Config) (*Breaker, *clock.Fake) {
	t.Helper()
	c := newFakeClock()
	cfg.Clock, cfg.Rand = c, noJitter
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = 1
	}
	b := MustNew(cfg)
	failN(t, b, cfg.ConsecutiveFailures)
	require.Equal(t, Open, b.State())
	return b, c
}

func TestAllowEarlyIsAllowUnlessOpen(t *testing.T) {
	b := MustNew(Config{})
	done, err := b.AllowEarly()
	require.NoError(t, err)
	done(nil)
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, uint64(1), b.Counts().Successes)
}

func TestAllowEarlySuccessCloses(t *testing.T) {
	b, c := openBreaker(t, Config{OpenTimeout: time.Hour})
	_, err := b.Allow()
	require.ErrorIs(t, err, ErrOpen, "Allow still waits")
	done, err := b.AllowEarly()
	require.NoError(t, err, "an early probe is admitted while Open")
	_, err = b.AllowEarly()
	require.ErrorIs(t, err, ErrOpen, "one early probe at a time")
	c.Advance(time.Millisecond)
	done(nil)
	assert.Equal(t, Closed, b.State(), "one successful probe closes with the default HalfOpenSuccesses")
	cnt := b.Counts()
	assert.Equal(t, uint64(0), cnt.InFlight())
	assert.Equal(t, uint64(1), cnt.Trips)
}

func TestAllowEarlySuccessHalfOpensWhenMoreSuccessesAreNeeded(t *testing.T) {
	b, _ := openBreaker(t, Config{OpenTimeout: time.Hour, HalfOpenSuccesses: 2, HalfOpenMaxCalls: 2})
	done, err := b.AllowEarly()
	require.NoError(t, err)
	done(nil)
	assert.Equal(t, HalfOpen, b.State())
	succeedN(t, b, 1)
	assert.Equal(t, Closed, b.State())
}

func TestAllowEarlyFailureKeepsTheWait(t *testing.T) {
	b, c := openBreaker(t, Config{OpenTimeout: time.Minute})
	retryAt := b.RetryAt()
	for range 5 {
		done, err := b.AllowEarly()
		require.NoError(t, err)
		c.Advance(time.Second)
		done(errBackend)
		assert.Equal(t, Open, b.State())
		assert.Equal(t, retryAt, b.RetryAt(), "a failed early probe does not lengthen the wait")
	}
	assert.Equal(t, uint64(1), b.Counts().Trips, "nor does it count as a trip")
	c.Advance(time.Minute)
	assert.Equal(t, HalfOpen, b.State(), "the scheduled probe still comes on time")
}

func TestAllowEarlyFailureHeedsRetryAfter(t *testing.T) {
	b, c := openBreaker(t, Config{OpenTimeout: time.Second})
	done, err := b.AllowEarly()
	require.NoError(t, err)
	done(retry.After(errBackend, time.Minute))
	assert.Equal(t, c.Now().Add(time.Minute), b.RetryAt())
}

func TestAllowEarlyIgnoredChangesNothing(t *testing.T) {
	b, _ := openBreaker(t, Config{OpenTimeout: time.Minute})
	retryAt := b.RetryAt()
	done, err := b.AllowEarly()
	require.NoError(t, err)
	done(retry.Permanent(errBackend))
	assert.Equal(t, Open, b.State())
	assert.Equal(t, retryAt, b.RetryAt())
	_, err = b.AllowEarly()
	require.NoError(t, err, "the slot is free again")
}

// An early probe that outlives the Open period: its outcome no longer
// decides the state (the breaker half-opened on schedule meanwhile).
func TestAllowEarlyOutcomeFromAnEarlierPeriod(t *testing.T) {
	b, c := openBreaker(t, Config{OpenTimeout: time.Second})
	done, err := b.AllowEarly()
	require.NoError(t, err)
	c.Advance(2 * time.Second)
	assert.Equal(t, HalfOpen, b.State())
	done(errBackend)
	assert.Equal(t, HalfOpen, b.State())
	assert.Equal(t, uint64(0), b.Counts().InFlight())
}
