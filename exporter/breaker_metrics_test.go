package exporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/breaker"
)

// int64Points collects reader once and returns the int64 points of the
// metric called name, keyed by their attributes without the
// otel.component ones, e.g. "from=closed,to=open".
func int64Points(t *testing.T, reader *sdkmetric.ManualReader, name string) (map[string]int64, string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	var component string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
			for _, p := range points {
				v, _ := p.Attributes.Value("otel.component.name")
				component = v.AsString()
				f, _ := p.Attributes.Filter(func(kv attribute.KeyValue) bool {
					return kv.Key != "otel.component.name" && kv.Key != "otel.component.type"
				})
				out[f.Encoded(attribute.DefaultEncoder())] = p.Value
			}
		}
	}
	return out, component
}

func TestWithBreakerMeterProviderReportsStateAndTransitions(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()

	clk := newFakeClock()
	b := breaker.MustNew(breaker.Config{
		Name: "otlp-primary", ConsecutiveFailures: 1, OpenTimeout: 10, Clock: clk,
		Rand: func() float64 { return 0 },
	})
	exp := MustBreaker(&fakeExporter{export: failing(errBackend)}, b, WithBreakerMeterProvider(mp))

	state, name := int64Points(t, reader, "steadylog.breaker.state")
	assert.Equal(t, "otlp-primary", name, "the breaker's name names the series")
	assert.Equal(t, map[string]int64{"state=closed": 1, "state=half-open": 0, "state=open": 0}, state)
	trans, _ := int64Points(t, reader, "steadylog.breaker.transitions")
	assert.Equal(t, map[string]int64{
		"from=closed,to=open": 0, "from=open,to=half-open": 0, "from=half-open,to=closed": 0, "from=half-open,to=open": 0,
	}, trans, "no transition yet: the usual four are reported at 0, so the first one shows as an increase")

	require.ErrorIs(t, exp.Export(context.Background(), makeRecords(t, 1)), errBackend)
	state, _ = int64Points(t, reader, "steadylog.breaker.state")
	assert.Equal(t, map[string]int64{"state=closed": 0, "state=half-open": 0, "state=open": 1}, state)

	clk.Advance(10) // the wait ends: half-open when looked at
	state, _ = int64Points(t, reader, "steadylog.breaker.state")
	assert.Equal(t, int64(1), state["state=half-open"])
	trans, _ = int64Points(t, reader, "steadylog.breaker.transitions")
	assert.Equal(t, map[string]int64{
		"from=closed,to=open": 1, "from=open,to=half-open": 1, "from=half-open,to=closed": 0, "from=half-open,to=open": 0,
	}, trans)
	assert.Equal(t, b.Transitions().Total(), uint64(trans["from=closed,to=open"]+trans["from=open,to=half-open"]))
}

func TestWithBreakerMeterProviderUnnamedBreakerGetsComponentName(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	_ = MustBreaker(&fakeExporter{}, newTestBreaker(newFakeClock(), 1), WithBreakerMeterProvider(mp))
	_, name := int64Points(t, reader, "steadylog.breaker.state")
	assert.Regexp(t, `^steadylog_circuit_breaker/\d+$`, name)
}

func TestWithBreakerMeterProviderNilIsAnInvalidOption(t *testing.T) {
	exp, err := NewBreaker(&fakeExporter{}, newTestBreaker(newFakeClock(), 1), WithBreakerMeterProvider(nil))
	assert.Nil(t, exp)
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.EqualError(t, err, "steadylog/exporter: invalid option: WithBreakerMeterProvider(nil): must not be nil")
	assert.PanicsWithError(t, err.Error(), func() {
		MustBreaker(&fakeExporter{}, newTestBreaker(newFakeClock(), 1), WithBreakerMeterProvider(nil))
	})
}
