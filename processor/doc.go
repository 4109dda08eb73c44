// Package processor provides a bounded, never-blocking batch processor for
// the OpenTelemetry Go logs SDK: a replacement for sdklog.BatchProcessor
// that bounds its queue by count and by bytes, and accounts for every
// record it loses.
//
// # Where it sits
//
//	slog / zap / logrus ─▶ bridge ─▶ sdklog.LoggerProvider
//	    ─▶ processor.Processor (admission, store, one worker per destination)
//	    ─▶ sdklog.Exporter per destination (OTLP, stdout, or an exporter package decorator)
//
// Register it like the SDK's processor:
//
//	p, err := processor.New(exporter, processor.WithMaxQueueBytes(64<<20))
//	if err != nil { ... }
//	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
//	defer provider.Shutdown(ctx) // shuts p down too
//
// # Admission
//
// OnEmit clones the record (so processors registered after it, and the
// caller, may reuse the original), estimates the heap bytes the clone
// retains with memguard.RecordSize, and queues it. It takes one short
// mutex and never waits for the exporter or for I/O.
//
// The queue has two bounds: a number of records (WithMaxQueueSize) and a
// number of bytes (WithMaxQueueBytes). When a record would break the byte
// bound, the store first packs its oldest queued records — encodes them,
// to a fraction of their size, and decodes them again for export
// (Stats.Packed counts them) — which loses nothing. When admitting a
// record would still break either bound, its overflow policy decides (WithOverflow, WithOverflowFrom): by
// default the oldest queued records are evicted until it fits, since fresh
// logs are worth more than a stale backlog; DropNewest refuses it instead;
// Block(timeout) makes OnEmit wait for room, for logs that must not be
// lost. Eviction is decided before it starts: a record that cannot fit
// (larger than the whole byte budget, or than what the batches in flight
// leave of it) is refused on its own and evicts nothing.
// WithSeverityEviction makes eviction take low-severity records first.
// With several destinations, records that only lagging destinations still
// need are evicted first under every policy (see NewWithDestinations).
//
// A LoggerProvider's Shutdown waits for every OnEmit in progress before it
// shuts its processors down: with Block, call WatchProvider, or shut down
// through the lifecycle package, which calls StopBlocking first.
//
// Block never waits for room that only its own caller can make: a record
// emitted by the worker goroutine itself (an exporter, or the error
// handler, logging through the provider it serves) or with the context of
// one of the worker's exporter calls is refused at once instead, as under
// DropNewest.
//
// # Before the queue is full
//
// Back-pressure is raised when the queue is 80% full by count or bytes and
// cleared once it has stayed below 60% for a second (WithBackPressure,
// WithBackPressureHold); it shows in Stats, a metric, the
// alert logger and a callback (WithBackPressureFunc), and with
// WithShedBelow makes Enabled answer false for low-severity records, which
// the bridge then never builds. WithBudget shares one byte budget between
// processors. While the Go heap is near the program's memory limit
// (WithHeapMonitor, on by default with GOMEMLIMIT), the processor keeps a
// quarter of its byte budget and sheds the rest as heap_pressure.
//
// # Export
//
// Each destination has one worker goroutine that owns its exporter, so
// Export is never called concurrently with itself. It exports when a full
// batch (WithExportMaxBatchSize) or half the byte budget is pending for it, and
// when the export interval passes; each call gets a context bounded by the
// export timeout (WithExportTimeout, or Destination.ExportTimeout). A batch
// is handed to the exporter without being copied (unless evictions left
// gaps in it: then its live records are gathered into one slice).
//
// Errors are classified first (WithErrorClassifier; by default
// otlperr.Classify, so an HTTP 400-class answer other than 429, or a
// gRPC InvalidArgument, is permanent, and Retry-After or RetryInfo is
// honoured, with or without a breaker). The classifier is the
// destination's only one, applied once per error: a breaker below the
// processor (Destination.Breaker, exporter.NewBreaker) applies it before
// counting the call, so the breaker and the processor agree on every
// error. A transient failure keeps the
// batch pending and retries it with backoff; a permanent failure, or a
// panic, drops it as export_failed. Each destination has one retry budget
// per outage (WithRetryMaxElapsed), counted from its first failure after a
// success: once it is spent, every batch gets a single attempt, without a
// backoff wait, until an export succeeds — so a dead backend costs one
// budget, not one per batch, and Shutdown with no deadline ends in about
// one budget. With a spool (below), the default budget drops nothing the
// spool holds: it only bounds how long ForceFlush and Shutdown wait.
//
// # Destinations
//
// A processor delivers every record to each of its destinations
// (NewWithDestinations; New with an exporter.NewFanout makes each member a
// destination, the members of nested fan-outs included). Records are
// stored once, and the count and byte bounds apply to that store; each
// destination reads it from its own position, with its own worker,
// retries, export timeout, breaker (Destination.Breaker), metrics and
// accounting. A record is released once every destination has exported
// or dropped it. One destination that fails, hangs or falls behind never
// delays, duplicates or drops records for the others: when the store must
// evict, it evicts the oldest records, which only the laggard still needs,
// and counts them as the laggard's drops.
//
// # Errors
//
// Export failures and configuration warnings go to the error handler
// (WithErrorHandler). The default writes them to standard error, summarised
// (one line per kind of error and interval, with a count), through a
// logger that does not depend on the pipeline it reports on.
// WithErrorHandler(otel.Handle) restores the OpenTelemetry global handler;
// its default writes through package log, which a program that routes
// slog's default logger into OpenTelemetry (otelslog) sends back into the
// very pipeline that is failing.
//
// # User code
//
// Everything the processor calls that the user supplies — the exporter's
// Export, ForceFlush and Shutdown, the error handler, the meter provider,
// the drop-alert logger — may panic without harm: the panic is recovered
// and becomes an error (or, for the error handler, is swallowed), and the
// worker goroutine goes on. A typed nil exporter is refused by New like a
// nil one. Every wait is bounded: a server-requested delay or an open
// breaker's wait is cut at the end of the retry budget, and Shutdown returns by
// its context's deadline (plus FinalSummaryGrace, for the alert logger)
// even when the exporter or the alert logger is stuck.
//
// The context of an Export call ends in one of two ways, which a breaker
// below the processor tells apart: with context.DeadlineExceeded when the
// export timeout passes (the backend was too slow: a failure), and with
// context.Canceled as soon as the ForceFlush or Shutdown it runs for gives
// up (the caller's deadline, which says nothing about the backend).
//
// # Accounting
//
// Every record passed to OnEmit is, at every moment, in exactly one of
// these places: exported, dropped (with a DropReason), queued, or in
// flight. Stats returns a consistent snapshot for which
//
//	Received == Exported + TotalDropped() + Queued + InFlight
//
// holds exactly, under any load and any exporter behaviour — for the store
// as a whole, and for each destination (Stats.Destinations), which counts
// the records handed to it. With a spool, the records recovered from it at
// New count as received (Stats.Spool.Recovered), so the identity holds for
// each run of the program. Store-wide, a record is exported when every
// destination exported it, and dropped, once, under the reason of its
// first drop, as soon as one destination dropped it.
//
// # Configuration
//
// Each setting is resolved in the order option → environment variable →
// default, as the SDK does: OTEL_BLRP_MAX_QUEUE_SIZE,
// OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, OTEL_BLRP_SCHEDULE_DELAY and
// OTEL_BLRP_EXPORT_TIMEOUT (whole milliseconds, at most
// MaxEnvMilliseconds), STEADYLOG_BLRP_MAX_QUEUE_BYTES (a size such as
// 64MiB, 512KiB or plain bytes, at least MinQueueBytes; see
// EnvMaxQueueBytes), and STEADYLOG_BLRP_ON_QUEUE_FULL with
// STEADYLOG_BLRP_BLOCK_ON_QUEUE_FULL_TIMEOUT (see OverflowPolicy). An invalid option value is an error from New; an invalid
// or out-of-range environment value falls back to the default and is
// reported once to the error handler, because a typo in a manifest should
// not stop a service from logging. Sizes may be as large as an int holds:
// queue slots are allocated as records arrive, never up front, so a huge
// count bound costs nothing until it is used, and the byte budget bounds
// what it can cost.
//
// # Telemetry
//
// WithMeterProvider publishes the processor's accounting as OpenTelemetry
// metrics with the semantic-convention names (otel.sdk.processor.log.*),
// plus queue bytes and export and queue-wait histograms, and, with a
// spool (WithSpool), the spool's size, age, fsync latency and failures as
// steadylog.processor.spool.*; the telemetry package lists them. Drops are also summarised, at most once every 10 s,
// on a local slog logger (standard error by default) that does not depend
// on the exporter that may be failing; see WithDropAlerts and
// WithoutDropAlerts.
//
// # Spool
//
// WithSpool(dir) keeps the records OnEmit accepts in a durable spool as
// well as in memory, so that a crash, a SIGKILL or a Shutdown whose
// deadline passed loses nothing: the next processor to open dir delivers
// them, each destination resuming at its own position (destinations are
// known by name, Destination.Name).
//
//   - OnEmit never waits for the disk. A spooler goroutine writes records
//     a batch at a time, within 20 ms of OnEmit (at once while memory
//     holds half the budget or more); what it has written survives a
//     SIGKILL of the process.
//     It fsyncs every WithSpoolSyncInterval (1 s by default; 0 syncs every
//     write): what it has synced survives a crash of the machine. Records
//     every destination exported before they were written are never
//     written: a healthy pipeline writes little.
//   - Memory stays bounded by the byte budget; the spool holds the
//     backlog. When the budget is full, records already in the spool leave
//     memory without being dropped (before anything is packed or evicted),
//     and a destination that still needs them reads them back from the
//     spool, one batch at a time, in order, before it reads memory again.
//     Only records not yet written are evicted, as without a spool.
//     WithSpoolReplayRate paces those reads, per destination, so that the
//     backlog of a long outage does not starve the application.
//   - The spool is bounded (WithSpoolMaxBytes, 256 MiB by default;
//     WithSpoolMaxAge): when a bound is reached the oldest records go,
//     counted as spool_full or spool_age by each destination that had not
//     finished them. A record memory still holds is not dropped with its
//     copy in the spool, but it can no longer leave memory that way.
//   - These bounds, not the retry budget, decide what an outage costs.
//     Unless WithRetryMaxElapsed is given, a destination whose budget is
//     spent keeps what the spool holds queued, retrying at its backoff
//     ceiling (or when its breaker admits a probe) until the backend is
//     back, then delivers it in order; OutageSpent shows it. ForceFlush
//     and Shutdown wait for such an outage one budget at most, then
//     return an error wrapping ErrQueuedInSpool; Shutdown leaves the
//     records on disk for the next start. Records memory holds because
//     the spool cannot write are dropped at the budget's end, as without a
//     spool.
//   - A disk that fails — full, read-only, a file size limit, I/O errors
//     — is reported to the error handler once per episode and in
//     Stats.Spool (Errors, Degraded, LastError); the processor works from
//     memory meanwhile and writes again when the disk allows. A spool that
//     cannot be opened at New for such a reason (an unwritable or
//     read-only directory, a full disk) leaves the processor working from
//     memory, and it tries again every sync interval: once the directory
//     holds no records of an earlier run, it opens it, says so, and writes
//     what memory holds; one that holds some is left untouched for the
//     next start, reported, and the processor stays in memory until
//     restart. A directory in use by another processor (ErrSpoolLocked), a
//     symbolic link or an invalid option makes New fail.
//   - Delivery is at least once. A destination acknowledges the spool a
//     batch at a time, at each sync: after a crash, records it had
//     exported since come again (Stats.Spool.Resent bounds them).
//
// The files are 0600 in a 0700 directory, checksummed (CRC-32C); a damaged
// record is skipped and counted (Stats.Spool.Damaged), never a reason for
// New to fail; files are deleted once every destination has finished
// their records. See DESIGN.md, "Spool".
//
// # Shutdown
//
// ForceFlush exports everything queued before the call. Shutdown stops
// admission, exports what is queued while its context allows, and shuts
// the exporter down. It returns by the context's deadline even when the
// exporter ignores its context; what was not exported by then is counted
// as dropped with reason shutdown. Its last drop and error summaries are
// written before it returns, also when the context has already ended
// (lifecycle.Immediate), so a program that exits right after still
// prints them; a stuck writer delays Shutdown by FinalSummaryGrace at most.
//
// With a spool, Shutdown first writes what memory holds to it and syncs —
// also with an ended context (lifecycle.Immediate): a local write — and
// what the destinations cannot deliver before the deadline stays in the
// spool instead of being dropped: Stats.Spool.LeftForNextStart and
// DestinationStats.LeftForNextStart count it, and it stays counted as
// queued. Shutdown then closes the spool, which frees its directory for
// the next processor.
package processor
