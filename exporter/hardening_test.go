package exporter

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
)

// A typed nil passes an == nil check; every decorator must refuse it at
// construction, not crash at the first export.
func TestHardeningTypedNilMembers(t *testing.T) {
	var typed *fakeExporter
	ok := &fakeExporter{}
	b := breaker.MustNew(breaker.Config{})
	_, err := NewBreaker(typed, b)
	require.EqualError(t, err, "steadylog/exporter: NewBreaker: the exporter is nil")
	_, err = NewBreaker(Named("x", typed), b)
	require.EqualError(t, err, "steadylog/exporter: NewBreaker: the exporter is nil", "Named passes a nil on")
	_, err = NewFailover(typed, ok)
	require.EqualError(t, err, "steadylog/exporter: NewFailover: the primary exporter is nil")
	_, err = NewFailover(ok, typed)
	require.EqualError(t, err, "steadylog/exporter: NewFailover: the fallback exporter is nil")
	_, err = NewFanout(ok, typed)
	require.ErrorContains(t, err, "fan-out member 1 is nil")
}

// A Name method that panics does not stop a decorator from being built.
type badName struct{ fakeExporter }

func (*badName) Name() string { panic("name boom") }

func TestHardeningPanickingName(t *testing.T) {
	f, err := NewFanout(&badName{})
	require.NoError(t, err)
	require.NoError(t, f.Export(context.Background(), nil))
}

// An exporter that answers a cancelled call with an error of its own (a
// gRPC status does not wrap context.Canceled) is not charged to the
// backend: the caller gave up.
func TestHardeningCancelledCallIsNotAFailure(t *testing.T) {
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1})
	inner := &fakeExporter{export: func(ctx context.Context, _ int) error {
		<-ctx.Done()
		return errors.New("rpc error: code = Canceled desc = context canceled")
	}}
	exp := MustBreaker(inner, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := exp.Export(ctx, []sdklog.Record{{}})
	require.ErrorContains(t, err, "code = Canceled", "the exporter's own error is returned")
	c := b.Counts()
	require.Zero(t, c.Failures, "%+v", c)
	require.Equal(t, uint64(1), c.Ignored, "%+v", c)
	require.Equal(t, breaker.Closed, b.State())

	// A deadline is the backend's fault.
	dctx, dcancel := context.WithTimeout(context.Background(), 0)
	defer dcancel()
	_ = exp.Export(dctx, []sdklog.Record{{}})
	require.Equal(t, breaker.Open, b.State())
}
