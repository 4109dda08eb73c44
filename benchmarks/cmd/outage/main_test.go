package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestScenario(t *testing.T) {
	s := settings{outage: 1300 * time.Millisecond, after: 300 * time.Millisecond, rate: 500, queue: 10000}
	sl, err := scenario("steadylog", s)
	require.NoError(t, err)
	assert.Zero(t, sl.Lost, "steadylog must ride out a short outage with a large enough queue")
	assert.Zero(t, sl.Duplicates)
	assert.True(t, sl.Recovered)
	assert.Positive(t, sl.OutageCalls)

	sdk, err := scenario("sdk", s)
	require.NoError(t, err)
	assert.Positive(t, sdk.Lost, "the SDK drops batches that fail")
	assert.Equal(t, sdk.Emitted, sdk.Delivered+sdk.Lost)
}

func TestRunRejectsBadSettings(t *testing.T) {
	var out bytes.Buffer
	require.Error(t, run(settings{outage: 0, rate: 1, queue: 1}, "", &out))
	require.Error(t, run(settings{outage: time.Second, rate: 0, queue: 1}, "", &out))
}
