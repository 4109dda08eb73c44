package breaker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenError(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var err error = &OpenError{State: Open, RetryAt: at}
	assert.ErrorIs(t, err, ErrOpen)
	assert.ErrorIs(t, fmt.Errorf("export: %w", err), ErrOpen)
	var oe *OpenError
	require.ErrorAs(t, fmt.Errorf("export: %w", err), &oe)
	assert.Equal(t, at, oe.RetryAt)
	assert.Equal(t, "breaker: circuit open; retry at 2026-05-06T07:08:09Z", err.Error())
	assert.Contains(t, (&OpenError{State: HalfOpen, RetryAt: at}).Error(), "half-open")
	assert.Equal(t, ErrOpen, errors.Unwrap(err))
}

func TestPermanent(t *testing.T) {
	assert.NoError(t, Permanent(nil))
	assert.False(t, IsPermanent(nil))
	assert.False(t, IsPermanent(errBackend))

	p := Permanent(errBackend)
	assert.True(t, IsPermanent(p))
	assert.ErrorIs(t, p, errBackend, "still wraps the cause")
	assert.Equal(t, errBackend.Error(), p.Error(), "marking does not change the message")
	assert.True(t, IsPermanent(fmt.Errorf("ctx: %w", p)))
	assert.Same(t, p, Permanent(p), "marking twice does not wrap twice")
}

func TestRetryAfterHelpers(t *testing.T) {
	assert.NoError(t, WithRetryAfter(nil, time.Second))
	_, ok := RetryAfter(errBackend)
	assert.False(t, ok)
	_, ok = RetryAfter(nil)
	assert.False(t, ok)

	err := WithRetryAfter(errBackend, 3*time.Second)
	d, ok := RetryAfter(fmt.Errorf("ctx: %w", err))
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	assert.ErrorIs(t, err, errBackend)
	assert.Equal(t, errBackend.Error(), err.Error())

	d, ok = RetryAfter(WithRetryAfter(errBackend, -time.Second))
	assert.True(t, ok)
	assert.Zero(t, d, "a negative delay is treated as zero")

	d, _ = RetryAfter(WithRetryAfter(WithRetryAfter(errBackend, time.Second), time.Minute))
	assert.Equal(t, time.Minute, d, "the outermost delay wins")

	both := Permanent(WithRetryAfter(errBackend, time.Second))
	assert.True(t, IsPermanent(both))
	_, ok = RetryAfter(both)
	assert.True(t, ok, "markers compose")
}
