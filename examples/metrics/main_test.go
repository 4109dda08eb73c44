package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunPrintsMetricsAndDropAlerts(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run([]string{"-duration", "300ms", "-interval", "100ms", "-burst", "1000", "-queue", "64"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	out := stdout.String()

	// One JSON document per collection, the last printed by the shutdown.
	dec := json.NewDecoder(strings.NewReader(out))
	docs := 0
	for dec.More() {
		var doc map[string]any
		require.NoError(t, dec.Decode(&doc))
		docs++
	}
	assert.GreaterOrEqual(t, docs, 1, "metrics printed at least once")
	for _, name := range []string{
		"otel.sdk.processor.log.processed", "otel.sdk.processor.log.queue.size",
		"otel.sdk.processor.log.queue.capacity", "steadylog.processor.queue.bytes",
		"steadylog.processor.queue.bytes.capacity", "steadylog.processor.export.duration",
		"steadylog.processor.queue.wait", "steadylog.breaker.state",
		`"queue_full"`, `"example"`, `"stdout"`,
	} {
		assert.Contains(t, out, name)
	}

	assert.Contains(t, stderr.String(), "dropped ", "the bursts overflowed the queue and an alert said so")
	assert.Contains(t, stderr.String(), "queue_full=")
	assert.Contains(t, stderr.String(), "logged ")
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "0s"}, {"-interval", "-1s"}, {"-burst", "-1"}, {"-queue", "0"},
		{"-export-delay", "-1ms"}, {"-nope"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(args, &stdout, &stderr)
		assert.Error(t, err, strings.Join(args, " "))
		assert.Empty(t, stdout.String())
	}
}
