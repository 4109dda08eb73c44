package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Where loadgen's own metrics (the processor's and the breaker's) go: the
// -metrics flag, by default OTEL_METRICS_EXPORTER, else otlp.
const (
	// metricsOTLP pushes them over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT,
	// the same collector the logs go to: simple, but while that collector
	// is down the metrics about the outage are lost with it.
	metricsOTLP = "otlp"
	// metricsPrometheus serves them at http://ADDR/metrics for Prometheus
	// to scrape from the app itself: they stay visible while the log
	// pipeline's backend is down. The compose demo uses this.
	metricsPrometheus = "prometheus"
	// metricsNone records nothing.
	metricsNone = "none"

	// defaultPrometheusPort is the OpenTelemetry default for
	// OTEL_EXPORTER_PROMETHEUS_PORT.
	defaultPrometheusPort = "9464"
)

// defaultMetrics returns the -metrics default: OTEL_METRICS_EXPORTER, or otlp.
func defaultMetrics() string {
	if v := strings.TrimSpace(os.Getenv("OTEL_METRICS_EXPORTER")); v != "" {
		return v
	}
	return metricsOTLP
}

// defaultMetricsAddr returns the -metrics-addr default from
// OTEL_EXPORTER_PROMETHEUS_HOST and OTEL_EXPORTER_PROMETHEUS_PORT
// (defaults localhost and 9464, as the OpenTelemetry specification says).
func defaultMetricsAddr() string {
	host, port := os.Getenv("OTEL_EXPORTER_PROMETHEUS_HOST"), os.Getenv("OTEL_EXPORTER_PROMETHEUS_PORT")
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = defaultPrometheusPort
	}
	return net.JoinHostPort(host, port)
}

// selfMetrics is the MeterProvider loadgen's pipeline reports through, and
// what serves it.
type selfMetrics struct {
	provider *sdkmetric.MeterProvider
	// addr is the address the Prometheus endpoint listens on ("" unless
	// kind is prometheus).
	addr   string
	server *http.Server
	served chan error
}

// newSelfMetrics builds the MeterProvider for kind (otlp, prometheus or
// none); for prometheus it listens on addr and serves /metrics.
func newSelfMetrics(ctx context.Context, kind, addr string) (*selfMetrics, error) {
	switch kind {
	case metricsOTLP:
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP metric exporter: %w", err)
		}
		return &selfMetrics{provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(
			sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(5*time.Second))))}, nil
	case metricsPrometheus:
		// A registry of its own, not the global one: only these metrics.
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, fmt.Errorf("prometheus metric exporter: %w", err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics endpoint: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		m := &selfMetrics{
			provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
			addr:     ln.Addr().String(),
			server:   &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
			served:   make(chan error, 1),
		}
		go func() { m.served <- m.server.Serve(ln) }()
		return m, nil
	case metricsNone:
		return &selfMetrics{provider: sdkmetric.NewMeterProvider()}, nil
	default:
		return nil, fmt.Errorf("-metrics %q: want %s, %s or %s", kind, metricsOTLP, metricsPrometheus, metricsNone)
	}
}

// Shutdown stops the endpoint (Prometheus) and the MeterProvider, whose
// last export (OTLP) carries the final counts.
func (m *selfMetrics) Shutdown(ctx context.Context) error {
	var errs []error
	if m.server != nil {
		errs = append(errs, m.server.Shutdown(ctx))
		if err := <-m.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, m.provider.Shutdown(ctx))
	return errors.Join(errs...)
}
