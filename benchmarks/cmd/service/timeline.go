package main

import (
	"context"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/steadylog/steadylog/breaker"
	ih "github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/processor"
)

// Timeline is one run's time series, recorded when the benchmark runs with
// -sample: what the service emitted, what its exporter sent, what the
// Collector accepted and, as far as each processor shows it, its queue,
// drops and breaker. deploy/plot draws it (scripts/service-plot.sh).
type Timeline struct {
	// Start is the measurement's start, Unix ns: the time axis's zero.
	// Samples begin during the warm-up, before it.
	Start int64 `json:"start"`
	// IntervalMs is the sampling interval.
	IntervalMs float64 `json:"interval_ms"`
	// Samples are taken inside the service, from its start until its
	// LoggerProvider.Shutdown has returned, in time order.
	Samples []Sample `json:"samples"`
	// Collector holds the Collector's own count of accepted log records,
	// scraped by the orchestrator every interval while the Collector
	// answers (none while it is killed or stopped), in time order.
	Collector []CollectorSample `json:"collector"`
}

// Sample is the state of the service at one moment. Counts are cumulative
// from the service's start.
type Sample struct {
	At int64 `json:"t"` // Unix ns
	// Emitted counts records handed to slog.
	Emitted uint64 `json:"emitted"`
	// ExportOK counts records in export calls that had succeeded by At,
	// ExportFailedRecords those in calls that had failed, and
	// ExportFailedCalls the failed calls, all as the wrapper around
	// otlploghttp saw them (for steadylog inside the breaker, so calls the
	// breaker refused are not counted).
	ExportOK            uint64 `json:"export_ok"`
	ExportFailedRecords uint64 `json:"export_failed_records"`
	ExportFailedCalls   uint64 `json:"export_failed_calls"`
	// Queued is the number of records held by the processor: steadylog's
	// Stats().Queued+InFlight; for the SDK, the BatchProcessor's own
	// otel.sdk.processor.log.queue.size metric (its queue, without the
	// batch being exported).
	Queued int64 `json:"queued"`
	// QueuedBytes is steadylog's Stats().QueuedBytes+InFlightBytes; the SDK
	// has no such figure.
	QueuedBytes *int64 `json:"queued_bytes,omitempty"`
	// Dropped counts dropped records by reason: steadylog's
	// Stats().Dropped; for the SDK, the queue_full count of its
	// otel.sdk.processor.log.processed metric, the only drop it counts
	// (records of a failed export are in ExportFailedRecords).
	Dropped map[string]uint64 `json:"dropped,omitempty"`
	// Breaker is steadylog's breaker state: 0 closed, 1 half-open, 2 open.
	Breaker *int `json:"breaker,omitempty"`
}

// CollectorSample is the Collector's otelcol_receiver_accepted_log_records
// at one moment, summed over its restarts (each restart starts the counter
// again from 0, and what the killed process accepted after the last scrape
// is not counted).
type CollectorSample struct {
	At       int64   `json:"t"` // Unix ns
	Accepted float64 `json:"accepted"`
}

// acceptedMetric is the Collector's count of log records its receivers
// accepted.
const acceptedMetric = "otelcol_receiver_accepted_log_records"

// sdkMetrics reads the BatchProcessor's opt-in metrics (OTEL_GO_X_OBSERVABILITY)
// through a manual reader on the global MeterProvider: the only way the
// SDK shows its queue and its drops.
type sdkMetrics struct{ reader *sdkmetric.ManualReader }

// enableSDKMetrics turns the BatchProcessor's metrics on for this process;
// it must run before NewBatchProcessor, which reads the variable.
func enableSDKMetrics() (*sdkMetrics, error) {
	if err := os.Setenv("OTEL_GO_X_OBSERVABILITY", "true"); err != nil {
		return nil, err
	}
	r := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	return &sdkMetrics{reader: r}, nil
}

// read returns the SDK's queue length and its count of queue_full drops.
func (m *sdkMetrics) read(ctx context.Context) (queue int64, queueFull uint64) {
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(ctx, &rm); err != nil {
		return 0, 0
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch mt.Name {
			case "otel.sdk.processor.log.queue.size":
				switch d := mt.Data.(type) {
				case metricdata.Sum[int64]:
					for _, p := range d.DataPoints {
						queue += p.Value
					}
				case metricdata.Gauge[int64]:
					for _, p := range d.DataPoints {
						queue += p.Value
					}
				}
			case "otel.sdk.processor.log.processed":
				if d, ok := mt.Data.(metricdata.Sum[int64]); ok {
					for _, p := range d.DataPoints {
						if v, ok := p.Attributes.Value(attribute.Key("error.type")); ok && v.AsString() == "queue_full" {
							queueFull += uint64(p.Value)
						}
					}
				}
			}
		}
	}
	return queue, queueFull
}

// sampler samples the service every interval until stop is called.
type sampler struct {
	stopc   chan struct{}
	done    chan struct{}
	samples []Sample
}

// startSampler samples seq and, when non-nil, steadylog's processor and
// breaker or the SDK's metrics.
func startSampler(interval time.Duration, seq *atomic.Uint64, steady *processor.Processor, brk *breaker.Breaker, sdk *sdkMetrics) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	take := func() Sample {
		smp := Sample{At: time.Now().UnixNano(), Emitted: seq.Load()}
		switch {
		case steady != nil:
			st := steady.Stats()
			smp.Queued = int64(st.Queued + st.InFlight)
			b := st.QueuedBytes + st.InFlightBytes
			smp.QueuedBytes = &b
			if len(st.Dropped) > 0 {
				smp.Dropped = map[string]uint64{}
				for r, n := range st.Dropped {
					smp.Dropped[string(r)] = n
				}
			}
		case sdk != nil:
			q, full := sdk.read(context.Background())
			smp.Queued = q
			if full > 0 {
				smp.Dropped = map[string]uint64{string(processor.DropQueueFull): full}
			}
		}
		if brk != nil {
			v := int(brk.State())
			smp.Breaker = &v
		}
		return smp
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s.samples = append(s.samples, take())
			select {
			case <-s.stopc:
				s.samples = append(s.samples, take())
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the samples.
func (s *sampler) stop() []Sample {
	close(s.stopc)
	<-s.done
	return s.samples
}

// fillExports sets each sample's cumulative export figures from the
// wrapper's calls: a call counts from its end.
func fillExports(samples []Sample, calls []ExportCall) {
	calls = append([]ExportCall(nil), calls...)
	sort.Slice(calls, func(i, j int) bool { return calls[i].End < calls[j].End })
	var ok, failedRecs, failedCalls uint64
	j := 0
	for i := range samples {
		for ; j < len(calls) && calls[j].End <= samples[i].At; j++ {
			if calls[j].OK {
				ok += uint64(calls[j].Records)
			} else {
				failedRecs += uint64(calls[j].Records)
				failedCalls++
			}
		}
		samples[i].ExportOK, samples[i].ExportFailedRecords, samples[i].ExportFailedCalls = ok, failedRecs, failedCalls
	}
}

// scrapeCollector scrapes the Collector's accepted count every interval
// until stop is closed, then returns the samples. A scrape that fails or
// takes longer than the interval (the Collector killed or stopped) leaves a
// gap; a value below the last one means the Collector was restarted, and
// the count goes on from the last value seen.
func scrapeCollector(col *ih.Collector, interval time.Duration, stop <-chan struct{}) []CollectorSample {
	var (
		out        []CollectorSample
		base, last float64
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		v, err := col.Metric(ctx, acceptedMetric, nil)
		cancel()
		if err == nil {
			if v < last {
				base += last
			}
			last = v
			out = append(out, CollectorSample{At: time.Now().UnixNano(), Accepted: base + v})
		}
		select {
		case <-stop:
			return out
		case <-tick.C:
		}
	}
}
