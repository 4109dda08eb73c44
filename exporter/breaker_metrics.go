package exporter

import (
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/setting"
	"github.com/steadylog/steadylog/telemetry"
)

// WithBreakerMeterProvider makes [NewBreaker] report the breaker's state
// and state changes as metrics of mp (steadylog.breaker.state and
// steadylog.breaker.transitions; see the telemetry package). They are
// observed from the breaker's snapshots at collection time, so Export pays
// nothing for them. The series are named by the breaker's Config.Name, or
// "steadylog_circuit_breaker/<n>" when it has none. Wrap each breaker with
// this option once: a breaker observed twice is reported twice.
//
// Default: no metrics. A nil mp is an invalid option: NewBreaker returns
// an error wrapping [ErrInvalidOption]. An error from the MeterProvider is
// reported to otel.Handle, and the exporter works without the metrics.
func WithBreakerMeterProvider(mp metric.MeterProvider) BreakerOption {
	return breakerOptionFunc(func(c *breakerConfig, errs *setting.Errors) {
		if setting.NotNil(errs, "WithBreakerMeterProvider", mp) {
			c.meterProvider = mp
		}
	})
}

func observeBreaker(mp metric.MeterProvider, b *breaker.Breaker) {
	if _, err := telemetry.ObserveBreaker(mp, b); err != nil {
		otel.Handle(fmt.Errorf("steadylog/exporter: breaker metrics: %w", err))
	}
}
