package processor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
	"github.com/steadylog/steadylog/retry"
)

// A destination has one classifier, the processor's, applied once per
// error, and its breaker sees the verdict: an error the processor's
// classifier marks permanent does not count against the backend, whether
// the breaker is the Destination's or one the exporter was wrapped in, and
// whatever the breaker decorator's own (standalone) classifier says.
func TestProcessorClassifierIsTheBreakersOnly(t *testing.T) {
	for name, build := range map[string]func(exp *countingExporter, b *breaker.Breaker, standalone retry.Classifier) processor.Destination{
		"Destination.Breaker": func(exp *countingExporter, b *breaker.Breaker, _ retry.Classifier) processor.Destination {
			return processor.Destination{Exporter: exp, Breaker: b}
		},
		"exporter.NewBreaker": func(exp *countingExporter, b *breaker.Breaker, standalone retry.Classifier) processor.Destination {
			return processor.Destination{Exporter: exporter.MustBreaker(exp, b, exporter.WithStandaloneClassifier(standalone))}
		},
		"two nested breakers": func(exp *countingExporter, b *breaker.Breaker, standalone retry.Classifier) processor.Destination {
			inner := exporter.MustBreaker(exp, b, exporter.WithStandaloneClassifier(standalone))
			return processor.Destination{Exporter: exporter.MustBreaker(inner, breaker.MustNew(breaker.Config{ConsecutiveFailures: 1}))}
		},
	} {
		t.Run(name, func(t *testing.T) {
			exp := &countingExporter{fail: func() error { return errBackend }}
			b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1})
			var calls, standaloneCalls atomic.Int64
			classify := func(err error) error {
				calls.Add(1)
				return retry.Permanent(err)
			}
			standalone := func(err error) error {
				standaloneCalls.Add(1)
				return err
			}
			p, err := processor.NewWithDestinations([]processor.Destination{build(exp, b, standalone)},
				append(quiet(), processor.WithErrorClassifier(classify))...)
			require.NoError(t, err)
			require.NoError(t, p.OnEmit(context.Background(), rec("x")))
			err = p.ForceFlush(context.Background())
			require.Error(t, err)
			assert.True(t, retry.IsPermanent(err), "%v", err)
			require.NoError(t, p.Shutdown(context.Background()))

			assert.Equal(t, int64(1), exp.calls.Load(), "permanent: not retried")
			assert.Equal(t, int64(1), calls.Load(), "the processor's classifier, once per error")
			assert.Zero(t, standaloneCalls.Load(), "the standalone classifier does not apply under a processor")
			assert.Equal(t, breaker.Closed, b.State(), "the breaker saw the processor's verdict")
			assert.Equal(t, uint64(1), b.Counts().Ignored)
			assert.Equal(t, uint64(1), p.Stats().Dropped[processor.DropExportFailed])
		})
	}
}

// A breaker's refusal is not the exporter's error: no breaker classifies
// it, so the processor does, once.
func TestProcessorClassifiesWhatNoBreakerDid(t *testing.T) {
	exp := &countingExporter{}
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1})
	_ = b.Execute(func() error { return errBackend }) // open
	var calls atomic.Int64
	classify := func(err error) error {
		calls.Add(1)
		return retry.Permanent(err)
	}
	p, err := processor.NewWithDestinations([]processor.Destination{{Exporter: exp, Breaker: b}},
		append(quiet(), processor.WithErrorClassifier(classify))...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("x")))
	err = p.ForceFlush(context.Background())
	require.ErrorIs(t, err, breaker.ErrOpen)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Zero(t, exp.calls.Load())
	assert.Equal(t, int64(1), calls.Load())
}

// With the default classifier, a breaker below the processor still knows
// an OTLP 404 is not the backend's fault, though exporter.NewBreaker has
// no classifier of its own by default: the processor's otlperr.Classify is
// the one it applies.
func TestDefaultClassifierReachesTheBreaker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }))
	defer srv.Close()
	exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpointURL(srv.URL+"/wrong/path"))
	require.NoError(t, err)
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1})
	p, err := processor.New(exporter.MustBreaker(exp, b), quiet()...)
	require.NoError(t, err)
	require.NoError(t, p.OnEmit(context.Background(), rec("x")))
	err = p.ForceFlush(context.Background())
	require.Error(t, err)
	assert.True(t, retry.IsPermanent(err), "%v", err)
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, uint64(1), b.Counts().Ignored)
}
