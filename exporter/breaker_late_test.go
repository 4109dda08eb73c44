package exporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
)

// lateExporter ignores its context: it waits for the deadline to pass,
// then reports success.
type lateExporter struct{}

func (lateExporter) Export(ctx context.Context, _ []sdklog.Record) error {
	<-ctx.Done()
	return nil
}
func (lateExporter) ForceFlush(context.Context) error { return nil }
func (lateExporter) Shutdown(context.Context) error   { return nil }

// TestLateSuccessCountsAsFailure: a backend that hangs past the export
// timeout trips the breaker even when the exporter ignores its deadline
// and reports success; the batch itself still counts as accepted.
func TestLateSuccessCountsAsFailure(t *testing.T) {
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 2})
	exp := MustBreaker(lateExporter{}, b)
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		require.NoError(t, exp.Export(ctx, nil), "the exporter's own result is returned")
		cancel()
	}
	assert.Equal(t, breaker.Open, b.State())
	assert.Equal(t, uint64(2), b.Counts().Failures)
}
