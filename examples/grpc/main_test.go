package main

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector is an in-process OTLP/gRPC logs receiver that counts records.
type collector struct {
	collogspb.UnimplementedLogsServiceServer
	records atomic.Int64
}

func (c *collector) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			c.records.Add(int64(len(sl.GetLogRecords())))
		}
	}
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// startCollector serves a collector on 127.0.0.1 and returns it and its
// endpoint URL.
func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	c := &collector{}
	collogspb.RegisterLogsServiceServer(srv, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return c, "http://" + ln.Addr().String()
}

// TestRunSendsOverGRPC runs the example against an in-process OTLP/gRPC
// receiver: every record arrives, and the processor counts them exported.
func TestRunSendsOverGRPC(t *testing.T) {
	c, endpoint := startCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	require.NoError(t, run(context.Background(), 250))
	assert.Equal(t, int64(250), c.records.Load())
}

// TestRunWithoutCollector fails fast: with the exporter's own retries off,
// a refused connection is the processor's to retry and count, within its
// shutdown deadline.
func TestRunWithoutCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+addr)
	err = run(context.Background(), 5)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0 of 5 records exported")
}
