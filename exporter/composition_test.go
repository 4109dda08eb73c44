package exporter_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/exporter"
)

// plainExporter counts its calls and fails when fail is set.
type plainExporter struct {
	fail      bool
	records   atomic.Int64
	shutdowns atomic.Int64
}

func (e *plainExporter) Export(_ context.Context, recs []sdklog.Record) error {
	if e.fail {
		return errors.New("down")
	}
	e.records.Add(int64(len(recs)))
	return nil
}
func (e *plainExporter) ForceFlush(context.Context) error { return nil }
func (e *plainExporter) Shutdown(context.Context) error   { e.shutdowns.Add(1); return nil }

// A panicking primary error handler does not make a delivered batch fail.
func TestFailoverPanickingPrimaryErrorHandler(t *testing.T) {
	primary, fallback := &plainExporter{fail: true}, &plainExporter{}
	var called atomic.Int64
	f := exporter.Failover(primary, fallback, exporter.WithPrimaryErrorHandler(func(err error) {
		called.Add(1)
		panic(err)
	}))
	recs := make([]sdklog.Record, 10)
	require.NotPanics(t, func() {
		require.NoError(t, f.Export(context.Background(), recs))
	})
	assert.Equal(t, int64(1), called.Load())
	assert.Equal(t, int64(10), fallback.records.Load())
}
