// Package telemetry is steadylog's self-observability: the names of the
// OpenTelemetry metrics its components report about themselves, the
// observer of circuit-breaker metrics, a rate-limited drop alerter that
// tells a local log when records are lost, and a rate-limited error
// reporter that tells it why.
//
// A logging pipeline that drops records must say so somewhere that does
// not depend on the pipeline. steadylog says it twice: as metrics, for
// dashboards and alerts, and as a summary line on standard error, for the
// operator reading the process's own output.
//
// # Turning metrics on
//
// Nothing is recorded, and nothing costs, until a MeterProvider is given:
//
//	p, err := processor.New(exp,
//		processor.WithMeterProvider(mp),
//		processor.WithName("audit-log"))
//
//	guarded := exporter.MustBreaker(otlp, b, exporter.WithBreakerMeterProvider(mp))
//
// The counters and gauges are observed from the components' own snapshots
// (Processor.Stats, Breaker.State, Breaker.Transitions) when mp collects, so
// they agree exactly with those snapshots and the logging call pays
// nothing for them. The export histograms are recorded by the processor's
// worker goroutine, after each export, with attribute sets built once, so
// recording allocates nothing and the logging call does not wait for it.
//
// # Naming
//
// Every series carries otel.component.type and otel.component.name, as
// the semantic conventions ask of SDK components: the type is
// ComponentTypeProcessor or ComponentTypeBreaker, the name is the one set
// by processor.WithName (or breaker.Config.Name), else "<type>/<n>" from
// ComponentName, n counting that type's instances in the process.
//
// # Processor metrics
//
// Instrumentation scope MeterScope of the processor package
// ("github.com/steadylog/steadylog/processor"):
//
//	name                                     instrument                unit          attributes    meaning
//	otel.sdk.processor.log.queue.size        observable up-down count  {log_record}  -             records waiting in the queue (Stats.Queued)
//	otel.sdk.processor.log.queue.capacity    observable up-down count  {log_record}  -             maximum records the queue holds
//	otel.sdk.processor.log.processed         observable counter        {log_record}  error.type    records finished: exported (no error.type) or dropped,
//	                                                                                               error.type = queue_full, byte_limit, record_too_large,
//	                                                                                               already_shutdown, shutdown, export_failed,
//	                                                                                               block_timeout, heap_pressure or shed
//	steadylog.processor.queue.bytes          observable up-down count  By            -             estimated heap bytes of the queued records
//	steadylog.processor.queue.bytes.capacity observable up-down count  By            -             the queue's byte budget
//	steadylog.processor.backpressure         observable gauge          1             -             1 while back-pressure is raised, else 0
//	steadylog.processor.export.duration      histogram                 s             error.type    duration of each Export call
//	steadylog.processor.queue.wait           histogram                 s             error.type    from a record's observed timestamp to the end
//	                                                                                               of the Export call that carried it
//
// The otel.sdk.* metrics are those of the semantic conventions (v1.43.0),
// created with the otelconv constructors. On the histograms, error.type is
// absent for a successful export and otherwise one of a fixed set of
// classes: breaker_open, timeout, canceled, panic, permanent, transient. A
// retried batch is recorded at each attempt. queue.wait observes up to 32
// records per export, evenly spaced through the batch from the oldest
// (DESIGN.md says why): its count is of samples, not of records
// (processed counts records). Records without an observed timestamp (OnEmit called directly
// rather than through an SDK Logger) are left out of queue.wait. Both
// histograms use the boundaries of DurationBuckets.
//
// A processor with a durable spool (processor.WithSpool) also reports it,
// in the same scope and with the same otel.component.* attributes; a
// processor without one registers none of these. No semantic convention
// covers a spool:
//
//	name                                           instrument                unit          meaning (field of Stats.Spool)
//	steadylog.processor.spool.bytes                observable up-down count  By            size of the spool's files (Bytes)
//	steadylog.processor.spool.records              observable up-down count  {log_record}  records some destination has not finished (Records)
//	steadylog.processor.spool.oldest.age           observable gauge          s             age of the oldest record, 0 when none (Oldest)
//	steadylog.processor.spool.degraded             observable gauge          1             1 while a disk failure stops writing, else 0 (Degraded)
//	steadylog.processor.spool.damaged              observable counter        {log_record}  records lost to damage in the files (Damaged)
//	steadylog.processor.spool.errors               observable counter        {error}       disk failures: open, write, sync (Errors)
//	steadylog.processor.spool.recovered            observable counter        {log_record}  records found at the start (Recovered)
//	steadylog.processor.spool.resent               observable counter        {log_record}  recovered records that may come twice (Resent)
//	steadylog.processor.spool.left_for_next_start  observable counter        {log_record}  after Shutdown, records left for the next start (LeftForNextStart)
//	steadylog.processor.spool.sync.duration        histogram                 s             duration of each fsync, failed ones included
//
// The sync histogram is recorded by the spooler goroutine, with the
// boundaries of DurationBuckets; a failed sync also counts in
// spool.errors. A histogram that panics (the meter provider's code)
// switches every histogram of the processor off and is reported once.
//
// # Breaker metrics
//
// Instrumentation scope BreakerScope ("github.com/steadylog/steadylog/breaker"),
// registered by ObserveBreaker:
//
//	name                           instrument          unit          attributes   meaning
//	steadylog.breaker.state        observable gauge    {state}       state        1 for the current state, 0 for the others
//	                                                                              (state = closed, half-open, open)
//	steadylog.breaker.transitions  observable counter  {transition}  from, to     state changes since the breaker was made
//
// # Drop alerts
//
// A DropAlerter reads cumulative drop counts by reason from a function and,
// once per interval, writes one line for the drops since its previous
// check, if there were any:
//
//	level=WARN msg="dropped 1520 log records in the last 10s: queue_full=1500, byte_limit=20" dropped=1520 otel.component.name=audit-log
//
// It runs on its own goroutine, so the code that counts drops never waits
// for it, and it writes by default to a log/slog text handler on
// os.Stderr, which works when the exporter does not. Shutdown writes a
// last summary of what was not reported yet; it gives up when its context
// ends, even if the logger is stuck on a full pipe, and the summary is
// then written once the logger unblocks. A panic in the logger or the
// source is recovered. The processor package runs one per processor
// unless processor.WithoutDropAlerts is given.
//
// # Error reports
//
// An ErrorReporter is an error handler (its Handle method) that writes to
// the same kind of local log, rate limited by kind of error: the first
// error of a kind at once, its repeats as one summary per interval, with
// their count and the latest error's text:
//
//	level=ERROR msg="steadylog: error" count=1 error="steadylog/processor: export of 512 records failed (will be retried): 503 Service Unavailable" otel.component.name=audit-log
//	level=ERROR msg="steadylog: error" count=37 interval=10s error="steadylog/processor: export of 498 records failed (will be retried): 503 Service Unavailable" otel.component.name=audit-log
//
// A kind is the error's text with every word containing a digit replaced
// by "N", so counts, addresses, ports and identifiers do not make new
// kinds; at most MaxErrorKinds are tracked, the rest counted together.
// Lines are written by the reporter's goroutine, which runs only while
// there is something to report; Handle waits for the first line of a
// kind, at most FirstLineWait, and never for a repeat. Shutdown
// writes what was not written yet and, like the drop alerter's, gives up
// when its context ends. The processor package reports its errors through
// one per processor unless processor.WithErrorHandler is given: not
// through otel.Handle, whose default writes to the log package, which a
// program logging through otelslog may have routed back into the very
// pipeline whose failure is being reported.
package telemetry
