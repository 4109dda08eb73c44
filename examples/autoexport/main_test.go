package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunOTLP: OTEL_LOGS_EXPORTER=otlp (http/protobuf) against an
// in-process OTLP/HTTP receiver on 127.0.0.1.
func TestRunOTLP(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/logs" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("OTEL_LOGS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	st, err := run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Exported)
	assert.Equal(t, int64(1), posts.Load(), "one POST /v1/logs")
}

func TestRunConsoleAndNone(t *testing.T) {
	t.Setenv("OTEL_LOGS_EXPORTER", "console")
	st, err := run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Exported)

	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	st, err = run(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.Received, "none: no processor at all")
}

func TestRunUnknownExporter(t *testing.T) {
	t.Setenv("OTEL_LOGS_EXPORTER", "kafka")
	_, err := run(context.Background())
	assert.ErrorContains(t, err, `OTEL_LOGS_EXPORTER="kafka"`)
}
