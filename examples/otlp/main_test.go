package main

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/integration/harness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunDeliversToCollector runs the example against a real collector (the
// integration harness's; skipped without STEADYLOG_OTELCOL_BIN) and checks
// that every record arrived and the report says so.
func TestRunDeliversToCollector(t *testing.T) {
	col := harness.StartCollector(t, harness.OtelcolBin(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const n = 250
	var stderr bytes.Buffer
	env := map[string]string{EnvEndpoint: "http://" + col.HTTPAddr}
	require.NoError(t, run(ctx, []string{"-records", "250", "-grace", "10s"}, func(k string) string { return env[k] }, &stderr),
		stderr.String())

	fc, err := col.WaitForFileRecords(ctx, "seq", n)
	require.NoError(t, err)
	assert.Equal(t, n, fc.Distinct)
	assert.Empty(t, fc.Missing(n))
	out := stderr.String()
	assert.Contains(t, out, "sending 250 records to http://"+col.HTTPAddr+"/v1/logs")
	assert.Regexp(t, `shutdown graceful \(Shutdown called\): ok in .*, 250 exported, 0 dropped`, out)
	assert.Contains(t, out, "breaker closed; received=250 exported=250")
	t.Logf("collector file: %s\n%s", fc, out)
}

// TestRunCollectorDown shows the failure path: nothing listens at the
// endpoint, the records cannot be delivered, and the report counts them as
// dropped within the deadline instead of hanging.
func TestRunCollectorDown(t *testing.T) {
	addr := "127.0.0.1:" + itoa(harness.FreePorts(t, 1)[0]) // free: connection refused
	var stderr bytes.Buffer
	env := map[string]string{EnvEndpoint: "http://" + addr}
	start := time.Now()
	err := run(context.Background(), []string{"-records", "20", "-grace", "1s"}, func(k string) string { return env[k] }, &stderr)
	took := time.Since(start)
	require.Error(t, err, stderr.String())
	out := stderr.String()
	assert.Regexp(t, `shutdown graceful \(Shutdown called\): FAILED in .*, 0 exported, 20 dropped`, out)
	assert.Less(t, took, 5*time.Second, "the shutdown is bounded by -grace")
}

func TestLogsURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "http://localhost:4318/v1/logs",
		"http://127.0.0.1:4318":     "http://127.0.0.1:4318/v1/logs",
		"https://otel.example:443/": "https://otel.example:443/v1/logs",
		"http://gw:80/otlp":         "http://gw:80/otlp/v1/logs",
	} {
		got, err := logsURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"localhost:4318", "ftp://x:1", "http://", "://x"} {
		_, err := logsURL(bad)
		assert.ErrorIs(t, err, ErrEndpoint, bad)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{{"-records", "-1"}, {"-grace", "0s"}, {"-nope"}} {
		var stderr bytes.Buffer
		assert.Error(t, run(context.Background(), args, noEnv, &stderr), "%v", args)
	}
	var stderr bytes.Buffer
	err := run(context.Background(), nil, func(string) string { return "localhost:4318" }, &stderr)
	assert.ErrorIs(t, err, ErrEndpoint)
}

func itoa(n int) string { return strconv.Itoa(n) }
