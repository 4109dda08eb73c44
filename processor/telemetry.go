package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/semconv/v1.43.0/otelconv"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/retry"
	"github.com/steadylog/steadylog/telemetry"
)

// MeterScope is the instrumentation scope of the processor's metrics.
const MeterScope = "github.com/steadylog/steadylog/processor"

// telemetryConfig holds the self-observability settings (options in this
// file). It is a field of config.
type telemetryConfig struct {
	meterProvider metric.MeterProvider
	name          string
	alertLogger   *slog.Logger
	alertInterval time.Duration
	noAlerts      bool
	// alertClock, set only by tests, replaces the drop alerter's ticker
	// and clock.
	alertClock clock.Clock
}

// telemetryClock carries a test's clock to the drop alerter or the error
// reporter: telemetry takes the clock of an option that is a
// clock.Carrier, and uses nothing else of it. The embedded option
// interfaces, left nil, make it an option of both kinds; telemetry never
// calls their methods.
type telemetryClock struct {
	telemetry.AlertOption
	telemetry.ErrorOption
	c clock.Clock
}

func (o telemetryClock) CarriedClock() clock.Clock { return o.c }

// Export error classes, the error.type values of the export duration and
// queue wait histograms: few and fixed, so the histograms' cardinality
// stays bounded whatever the exporter returns.
const (
	errClassBreakerOpen = iota // an open breaker refused the batch (breaker.ErrOpen)
	errClassTimeout            // the export timeout or Shutdown's deadline passed
	errClassCanceled           // the context was canceled
	errClassPanic              // the exporter panicked
	errClassPermanent          // marked with retry.Permanent: retrying cannot help
	errClassTransient          // any other error: retried
	numErrClasses
)

var errClassNames = [numErrClasses]string{
	"breaker_open", "timeout", "canceled", "panic", "permanent", "transient",
}

func errClass(err error) int {
	switch {
	case errors.Is(err, errPanicked):
		return errClassPanic
	case errors.Is(err, breaker.ErrOpen):
		return errClassBreakerOpen
	case retry.IsPermanent(err):
		return errClassPermanent
	case errors.Is(err, context.DeadlineExceeded):
		return errClassTimeout
	case errors.Is(err, context.Canceled):
		return errClassCanceled
	}
	return errClassTransient
}

// telemetryState is the processor's self-observability: OTel metrics and
// drop alerts. It is a field of Processor. The zero value records nothing.
type telemetryState struct {
	name    string
	alerter *telemetry.DropAlerter

	// Set when metrics are on; read-only after start.
	metrics      bool
	broken       atomic.Bool // a histogram panicked: no more recording
	errorHandler func(error)
	duration     metric.Float64Histogram
	wait         metric.Float64Histogram
	// With a spool: the fsync histogram the spooler records into
	// (timeSpoolSync), and its attribute set; nil without one.
	spoolSync     metric.Float64Histogram
	spoolSyncOpts []metric.RecordOption
}

// destTelemetry is what a destination records its exports with: the
// histograms' attribute sets, with the destination's name.
type destTelemetry struct {
	// The record options are slices built once: passing one option as a
	// variadic argument would allocate a new slice at every call.
	okOpts  []metric.RecordOption
	errOpts [numErrClasses][]metric.RecordOption
}

// start is called by New once the processor is built, before its worker
// starts. An error fails New.
func (t *telemetryState) start(p *Processor) error {
	cfg := p.cfg.tel
	t.errorHandler = p.cfg.errorHandler
	t.name = cfg.name
	if t.name == "" {
		t.name = telemetry.ComponentName(telemetry.ComponentTypeProcessor)
	}
	if cfg.meterProvider != nil {
		if err := t.startMetricsSafely(p, cfg.meterProvider); err != nil {
			return fmt.Errorf("steadylog/processor: metrics: %w", err)
		}
	}
	if cfg.noAlerts {
		return nil
	}
	opts := []telemetry.AlertOption{
		telemetry.WithAlertNoun("log records"),
		telemetry.WithAlertAttrs(slog.String(string(telemetry.KeyComponentName), t.name)),
	}
	if cfg.alertLogger != nil {
		opts = append(opts, telemetry.WithAlertLogger(cfg.alertLogger), telemetry.WithAlertInterval(cfg.alertInterval))
	}
	if cfg.alertClock != nil {
		opts = append(opts, telemetryClock{c: cfg.alertClock})
	}
	a, err := telemetry.NewDropAlerter(p.droppedByReason, opts...)
	if err != nil {
		return fmt.Errorf("steadylog/processor: drop alerts: %w", err)
	}
	t.alerter = a
	a.Start()
	return nil
}

// droppedByReason feeds the drop alerter.
func (p *Processor) droppedByReason() map[string]uint64 {
	s := p.Stats()
	out := make(map[string]uint64, len(s.Dropped))
	for r, n := range s.Dropped {
		out[string(r)] = n
	}
	return out
}

// startMetricsSafely is startMetrics with a panic in the meter provider
// (user code) turned into an error from New.
func (t *telemetryState) startMetricsSafely(p *Processor, mp metric.MeterProvider) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.metrics = false
			err = fmt.Errorf("meter provider panicked: %v", r)
		}
	}()
	return t.startMetrics(p, mp)
}

func (t *telemetryState) startMetrics(p *Processor, mp metric.MeterProvider) error {
	m := mp.Meter(MeterScope)
	base := []attribute.KeyValue{
		telemetry.KeyComponentType.String(telemetry.ComponentTypeProcessor),
		telemetry.KeyComponentName.String(t.name),
	}
	set := func(kv ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(append([]attribute.KeyValue(nil), base...), kv...)...)
	}

	size, err := otelconv.NewSDKProcessorLogQueueSize(m)
	if err != nil {
		return err
	}
	capacity, err := otelconv.NewSDKProcessorLogQueueCapacity(m)
	if err != nil {
		return err
	}
	processed, err := otelconv.NewSDKProcessorLogProcessedObservable(m)
	if err != nil {
		return err
	}
	qBytes, err := m.Int64ObservableUpDownCounter(telemetry.MetricQueueBytes, metric.WithUnit(telemetry.UnitBytes),
		metric.WithDescription("The estimated heap size of the log records in the queue."))
	if err != nil {
		return err
	}
	qBytesCap, err := m.Int64ObservableUpDownCounter(telemetry.MetricQueueBytesCapacity, metric.WithUnit(telemetry.UnitBytes),
		metric.WithDescription("The byte budget of the queue."))
	if err != nil {
		return err
	}
	pressure, err := m.Int64ObservableGauge(telemetry.MetricBackPressure, metric.WithUnit("1"),
		metric.WithDescription("1 while the queue is above its high watermark (until it falls below the low one), else 0."))
	if err != nil {
		return err
	}
	buckets := metric.WithExplicitBucketBoundaries(telemetry.DurationBuckets()...)
	if t.duration, err = m.Float64Histogram(telemetry.MetricExportDuration, metric.WithUnit(telemetry.UnitSeconds), buckets,
		metric.WithDescription("The duration of one export call.")); err != nil {
		return err
	}
	if t.wait, err = m.Float64Histogram(telemetry.MetricQueueWait, metric.WithUnit(telemetry.UnitSeconds), buckets,
		metric.WithDescription("The time from a log record's observed timestamp to the end of the export call that carried it.")); err != nil {
		return err
	}

	destExported, err := otelconv.NewSDKExporterLogExportedObservable(m)
	if err != nil {
		return err
	}
	destInflight, err := otelconv.NewSDKExporterLogInflightObservable(m)
	if err != nil {
		return err
	}

	// Every attribute set is built once, here: recording and observing
	// allocate nothing for attributes. The histograms carry the
	// destination's name (KeyDestination); each destination's own
	// accounting is published as an exporter component of its own,
	// otel.component.name "<processor>/<destination>".
	baseSet := set()
	type destObs struct {
		base    metric.ObserveOption
		reasons [numReasons]metric.ObserveOption
	}
	dobs := make([]destObs, len(p.dests))
	for di, d := range p.dests {
		dn := telemetry.KeyDestination.String(d.name)
		d.tel.okOpts = []metric.RecordOption{metric.WithAttributeSet(set(dn))}
		for i, name := range errClassNames {
			d.tel.errOpts[i] = []metric.RecordOption{metric.WithAttributeSet(set(dn, telemetry.KeyErrorType.String(name)))}
		}
		dset := func(kv ...attribute.KeyValue) attribute.Set {
			return attribute.NewSet(append([]attribute.KeyValue{
				telemetry.KeyComponentType.String(telemetry.ComponentTypeDestination),
				telemetry.KeyComponentName.String(t.name + "/" + d.name),
			}, kv...)...)
		}
		dobs[di].base = metric.WithAttributeSet(dset())
		for i := range dobs[di].reasons {
			dobs[di].reasons[i] = metric.WithAttributeSet(dset(telemetry.KeyErrorType.String(string(reasonIndex(i).reason()))))
		}
	}
	baseObs := metric.WithAttributeSet(baseSet)
	var reasonObs [numReasons]metric.ObserveOption
	for i := range reasonObs {
		reasonObs[i] = metric.WithAttributeSet(set(telemetry.KeyErrorType.String(string(reasonIndex(i).reason()))))
	}
	maxQueue, maxBytes := int64(p.cfg.maxQueueSize), p.cfg.maxQueueBytes
	observed := []metric.Observable{size.Inst(), capacity.Inst(), processed.Inst(), qBytes, qBytesCap, pressure,
		destExported.Inst(), destInflight.Inst()}
	var spool *spoolInstruments
	if p.sp != nil {
		if spool, err = newSpoolInstruments(m, buckets); err != nil {
			return err
		}
		observed = append(observed, spool.observables()...)
		t.spoolSync = spool.sync
		t.spoolSyncOpts = []metric.RecordOption{metric.WithAttributeSet(baseSet)}
	}

	// The registration is kept for the processor's life and beyond: the
	// drops counted by Shutdown must still be collectable after it.
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := p.Stats()
		o.ObserveInt64(size.Inst(), int64(s.Queued), baseObs)
		o.ObserveInt64(capacity.Inst(), maxQueue, baseObs)
		o.ObserveInt64(qBytes, s.QueuedBytes, baseObs)
		o.ObserveInt64(qBytesCap, maxBytes, baseObs)
		o.ObserveInt64(processed.Inst(), int64(s.Exported), baseObs)
		for i, opt := range reasonObs {
			o.ObserveInt64(processed.Inst(), int64(s.Dropped[reasonIndex(i).reason()]), opt)
		}
		var bp int64
		if s.BackPressure {
			bp = 1
		}
		o.ObserveInt64(pressure, bp, baseObs)
		for i, ds := range s.Destinations {
			o.ObserveInt64(destExported.Inst(), int64(ds.Exported), dobs[i].base)
			for r, opt := range dobs[i].reasons {
				o.ObserveInt64(destExported.Inst(), int64(ds.Dropped[reasonIndex(r).reason()]), opt)
			}
			o.ObserveInt64(destInflight.Inst(), int64(ds.InFlight), dobs[i].base)
		}
		if spool != nil && s.Spool != nil {
			spool.observe(o, s.Spool, time.Now(), baseObs)
		}
		return nil
	}, observed...)
	if err != nil {
		return err
	}
	t.metrics = true
	return nil
}

// queueWaitSamples bounds the queue wait observations per export. One
// histogram observation costs about 160ns of the worker's time; for every
// record of a full batch that is more than a tenth of a logging call's
// cost, taken from the same cores. Records of a batch are in arrival order
// and their waits fall steadily from the oldest to the newest, so evenly
// spaced samples, the oldest first, keep the distribution's shape — p50,
// p95, p99 — at 1/16 of the cost of a full 512-record batch. Batches of up
// to this many records are observed in full.
const queueWaitSamples = 32

// exported is called by the worker after each Export call returns, before
// the batch is accounted and recycled: recs are the records of the batch,
// started is when the call began, err its result (nil on success).
//
// It records the export duration, and the queue wait of up to
// queueWaitSamples records with an observed timestamp, evenly spaced
// through the batch. A batch that is retried is recorded at each attempt,
// with the attempt's error class.
func (t *telemetryState) exported(ctx context.Context, d *destTelemetry, recs []sdklog.Record, started time.Time, err error) {
	if !t.metrics || t.broken.Load() {
		return
	}
	defer t.recoverHistogram()
	end := time.Now()
	opts := d.okOpts
	if err != nil {
		opts = d.errOpts[errClass(err)]
	}
	t.duration.Record(ctx, end.Sub(started).Seconds(), opts...)
	n := len(recs)
	samples := min(n, queueWaitSamples)
	for k := range samples {
		ts := recs[k*n/samples].ObservedTimestamp()
		if ts.IsZero() { // set by the SDK's Logger; absent when OnEmit is called directly
			continue
		}
		t.wait.Record(ctx, end.Sub(ts).Seconds(), opts...)
	}
}

// recoverHistogram is deferred by the code that records into a
// histogram. The histograms are the meter provider's code. One that
// panics switches them all off — recording is best effort, exporting and
// spooling are not — and the panic is reported once.
func (t *telemetryState) recoverHistogram() {
	if r := recover(); r != nil {
		if !t.broken.Swap(true) {
			safeHandle(t.errorHandler, fmt.Errorf("steadylog/processor: metrics: histogram panicked, histograms switched off: %v", r))
		}
	}
}

// timeSpoolSync calls sync, the spool's fsync, and records its duration,
// failed ones included (spool.errors counts those). The spooler calls its
// log's Sync through it; without metrics it only calls sync.
func (t *telemetryState) timeSpoolSync(sync func() error) error {
	if t.spoolSync == nil || t.broken.Load() {
		return sync()
	}
	started := time.Now()
	err := sync()
	t.recordSpoolSync(time.Since(started))
	return err
}

func (t *telemetryState) recordSpoolSync(d time.Duration) {
	defer t.recoverHistogram()
	t.spoolSync.Record(context.Background(), d.Seconds(), t.spoolSyncOpts...)
}

// spoolInstruments are the metrics of a processor's spool (WithSpool),
// named in the telemetry package (MetricSpool*). All but the fsync
// histogram are observed from Stats().Spool, in the processor's callback.
type spoolInstruments struct {
	bytes, records             metric.Int64ObservableUpDownCounter
	oldestAge                  metric.Float64ObservableGauge
	degraded                   metric.Int64ObservableGauge
	damaged, errors            metric.Int64ObservableCounter
	recovered, resent, leftOut metric.Int64ObservableCounter
	sync                       metric.Float64Histogram
}

func newSpoolInstruments(m metric.Meter, buckets metric.HistogramOption) (*spoolInstruments, error) {
	var si spoolInstruments
	var err error
	upDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		if err != nil {
			return nil
		}
		var inst metric.Int64ObservableUpDownCounter
		inst, err = m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return inst
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		if err != nil {
			return nil
		}
		var inst metric.Int64ObservableCounter
		inst, err = m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return inst
	}
	si.bytes = upDown(telemetry.MetricSpoolBytes, telemetry.UnitBytes, "The size of the spool's files.")
	si.records = upDown(telemetry.MetricSpoolRecords, telemetry.UnitLogRecord,
		"The records in the spool that some destination has not finished yet.")
	si.damaged = counter(telemetry.MetricSpoolDamaged, telemetry.UnitLogRecord,
		"The records lost to damage in the spool's files, found when it was opened or read back.")
	si.errors = counter(telemetry.MetricSpoolErrors, telemetry.UnitError,
		"The spool's disk failures: failed opens, writes and syncs.")
	si.recovered = counter(telemetry.MetricSpoolRecovered, telemetry.UnitLogRecord,
		"The records found in the spool when the processor started, which it delivers.")
	si.resent = counter(telemetry.MetricSpoolResent, telemetry.UnitLogRecord,
		"The recovered records that may have been delivered before the restart: an upper bound on the duplicates.")
	si.leftOut = counter(telemetry.MetricSpoolLeftForNextStart, telemetry.UnitLogRecord,
		"After Shutdown, the records left in the spool for the next processor to open it.")
	if err != nil {
		return nil, err
	}
	if si.oldestAge, err = m.Float64ObservableGauge(telemetry.MetricSpoolOldestAge, metric.WithUnit(telemetry.UnitSeconds),
		metric.WithDescription("The age of the oldest record in the spool, from when it was written; 0 when there is none.")); err != nil {
		return nil, err
	}
	if si.degraded, err = m.Int64ObservableGauge(telemetry.MetricSpoolDegraded, metric.WithUnit("1"),
		metric.WithDescription("1 while the spool is not writing because of a disk failure (the processor works from memory), else 0.")); err != nil {
		return nil, err
	}
	if si.sync, err = m.Float64Histogram(telemetry.MetricSpoolSyncDuration, metric.WithUnit(telemetry.UnitSeconds), buckets,
		metric.WithDescription("The duration of one fsync of the spool.")); err != nil {
		return nil, err
	}
	return &si, nil
}

// observables returns the instruments observe reports, for RegisterCallback.
func (si *spoolInstruments) observables() []metric.Observable {
	return []metric.Observable{si.bytes, si.records, si.oldestAge, si.degraded, si.damaged, si.errors,
		si.recovered, si.resent, si.leftOut}
}

// observe reports s, the spool's part of a Stats snapshot taken at now.
func (si *spoolInstruments) observe(o metric.Observer, s *SpoolStats, now time.Time, opt metric.ObserveOption) {
	o.ObserveInt64(si.bytes, s.Bytes, opt)
	o.ObserveInt64(si.records, int64(s.Records), opt)
	var age float64
	if !s.Oldest.IsZero() {
		age = max(now.Sub(s.Oldest).Seconds(), 0)
	}
	o.ObserveFloat64(si.oldestAge, age, opt)
	var degraded int64
	if s.Degraded {
		degraded = 1
	}
	o.ObserveInt64(si.degraded, degraded, opt)
	o.ObserveInt64(si.damaged, int64(s.Damaged), opt)
	o.ObserveInt64(si.errors, int64(s.Errors), opt)
	o.ObserveInt64(si.recovered, int64(s.Recovered), opt)
	o.ObserveInt64(si.resent, int64(s.Resent), opt)
	o.ObserveInt64(si.leftOut, int64(s.LeftForNextStart), opt)
}

// alertStopLimit bounds how long Shutdown waits, in all, for the drop
// alerter's last summary and the back-pressure goroutine: both write to
// the alert logger, which is user code, and a stuck writer (a full stderr
// pipe) must not hang Shutdown. The summary is still written when the
// writer recovers. Shutdown's context bounds the wait too, plus
// FinalSummaryGrace (see finalContext).
const alertStopLimit = time.Second

// FinalSummaryGrace is how long Shutdown may outlive its context to write
// its last lines to the alert and error loggers: the summary of the drops
// not reported yet (say "dropped 7 log records in the last 2s:
// shutdown=7") and of the export errors not written yet.
//
// Those lines matter most when the context has already ended —
// lifecycle.Immediate, or a deadline that ran out while the backend was
// down — and the program exits right after Shutdown returns: written
// after Shutdown returned, they would be lost with the process. So
// Shutdown waits for them up to FinalSummaryGrace after its context ends.
// A working writer (standard error, a file) takes microseconds; a stuck
// one (a full stderr pipe, a slog handler that blocks) costs at most the
// grace, and its lines are written when it recovers. Shutdown therefore
// returns by its context's deadline plus FinalSummaryGrace, whatever the
// alert logger does. It is shorter than lifecycle.AbandonMargin, so that
// the lifecycle package does not give up on a Shutdown that waits for it.
const FinalSummaryGrace = 25 * time.Millisecond

// finalContext is the context Shutdown gives the alert logger's last
// writers: it ends alertStopLimit from now, or FinalSummaryGrace after ctx
// ends, whichever comes first. It keeps ctx's values. The returned cancel
// must be called; it releases everything, timer included.
func finalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	quiet, cancel := context.WithTimeout(context.WithoutCancel(ctx), alertStopLimit)
	if ctx.Err() != nil { // the common case: the grace starts now
		graced, cancelGrace := context.WithTimeout(quiet, FinalSummaryGrace)
		return graced, func() { cancelGrace(); cancel() }
	}
	var (
		mu      sync.Mutex
		timer   *time.Timer
		stopped bool
	)
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = time.AfterFunc(FinalSummaryGrace, cancel)
		}
	})
	return quiet, func() {
		stopWatch()
		mu.Lock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// stop is called once when Shutdown returns (either way), with a context
// bounded by Shutdown's (plus FinalSummaryGrace) and alertStopLimit.
// Metric callbacks stay registered, so the final counts can still be
// collected. The drop alerter stops after a last summary of the drops not
// reported yet, waiting for it no longer than ctx allows.
func (t *telemetryState) stop(ctx context.Context) {
	if t.alerter != nil {
		_ = t.alerter.Shutdown(ctx)
	}
}
