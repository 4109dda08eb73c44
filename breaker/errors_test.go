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
	assert.Equal(t, "steadylog/breaker: circuit open; retry at 2026-05-06T07:08:09Z", err.Error())
	assert.Contains(t, (&OpenError{State: HalfOpen, RetryAt: at}).Error(), "half-open")
	assert.Equal(t, ErrOpen, errors.Unwrap(err))
}
