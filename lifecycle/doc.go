// Package lifecycle shuts OpenTelemetry pipelines down in a predictable way:
// named strategies, a hard deadline, an ordered list of components, and a
// report of what was exported and what was lost.
//
// # Why
//
// When Kubernetes stops a pod it sends SIGTERM and, 30 seconds later by
// default (terminationGracePeriodSeconds), SIGKILL. A service that exits at
// once loses the log records still queued; one that waits for a hung exporter
// is killed mid-way and loses them anyway, without a word. This package makes
// the choice explicit and bounds it in time.
//
// It is built only on ForceFlush(ctx) and Shutdown(ctx) — the [Component]
// interface — so it works with any sdklog.LoggerProvider, any sdklog.Processor
// (the SDK's BatchProcessor and steadylog's processor), sdkmetric.MeterProvider
// and sdktrace.TracerProvider.
//
// # Strategies
//
//   - [Immediate] calls Shutdown with a context that has already ended.
//     Nothing more is exported; a counting processor (steadylog's) counts what
//     it still held as dropped with reason "shutdown". It returns in
//     milliseconds. Use it when the process must go now.
//   - [Flush] calls ForceFlush on every component, then Shutdown on every
//     component. It is bounded only by the context. Use it for batch jobs
//     that end on their own and can wait.
//   - [Graceful] (the Manager's default) drains for a share of the remaining
//     time ([DefaultGracefulShare], 80%; see [GracefulWithin]), then calls
//     Shutdown with the rest. With steadylog's processor what the drain did
//     not export stays queued, Shutdown exports more of it, and what is left
//     when time runs out is counted, never silently lost. Use it for services.
//
// Admission stops when a component's Shutdown begins (steadylog's processor
// counts later records as "already_shutdown"). With a [Manager], the cleanup
// hooks run first: stop the HTTP server there, and the records it logs while
// draining its requests are still exported.
//
// # Order
//
// Components shut down in the order given. Shut down the LoggerProvider before
// the MeterProvider: the drop counters updated while the logs shut down are
// then in the MeterProvider's final export. Once the context has ended nothing
// can be exported any more, so the components not yet shut down are then shut
// down together (each with the ended context, so each can count its losses;
// their ForceFlush is skipped).
//
// # Deadlines
//
// [Shutdown] returns by the context's deadline plus [AbandonMargin] (40 ms),
// even when a component ignores its context: every call runs in its own
// goroutine, and Shutdown stops waiting for it AbandonMargin after its context
// ended. Such a component is reported as abandoned ([ErrAbandoned]) and keeps
// running in the background; whatever it held is lost, because the process
// is about to exit. A panic (or runtime.Goexit) in a component or hook is
// recovered and reported with [ErrPanicked]. RecordCounts and StopBlocking
// are bounded and recovered the same way (see [RecordCounter] and
// [Blocker]): one that hangs costs at most AbandonMargin more (a counter's
// counts are then left out of the report).
//
// The error names each component that failed or was abandoned, and why: an
// [*Error] holding one [*ComponentError] per failure, so that
// errors.Is(err, ErrAbandoned), errors.Is(err, context.DeadlineExceeded) and
// errors.As(err, &componentErr) all work. [ShutdownNamed] also returns a
// [Report]: per component its strategy, duration, error, abandoned flag and —
// for components that implement [RecordCounter], as steadylog's processor does
// — the records exported and dropped during the shutdown, and for those
// that implement [LeftCounter], as the processor with a spool does, the
// records its Shutdown left for the next start.
//
// A nil component (nil, or a nil pointer, map, slice, channel or func in the
// interface) is reported with [ErrNilComponent] and the others are still
// shut down. A nil context is refused with [ErrNilContext] rather than treated
// as context.Background: Background has no deadline, and an unbounded
// shutdown is what this package exists to prevent.
//
// # Providers and their processors
//
// The SDK's LoggerProvider.Shutdown (v1.47), given a context that has already
// ended, returns without shutting down its processors: their goroutines keep
// running and their queued records are neither exported nor counted. That is
// always the case with Immediate, and with the other strategies once time has
// run out. Register the provider together with its processor,
// Group(provider, processor): the processor is then shut down (and counts its
// losses) in every case, and its counts appear in the report.
//
// The provider's Shutdown also first waits for every OnEmit in progress, so
// an OnEmit blocked on a full queue (steadylog's Block overflow policy)
// would hold it until its deadline. Components that implement [Blocker]
// — a Group's members and Counted's counter included — have
// StopBlocking called after the flush phase and before the first Shutdown
// (with Immediate, at once): the blocked callers stop waiting, and the
// provider's Shutdown can reach the processor.
//
// # Signals and the Manager
//
// A [Manager] holds the components and cleanup hooks of a program, listens
// for SIGINT and SIGTERM ([Manager.Listen]) and runs the strategy once, on the
// first signal or [Manager.Shutdown] call. A second signal forces Immediate.
// Once the shutdown has finished the Manager stops catching signals (only
// its own registration: what other code registered with signal.Notify
// stays), so a further SIGTERM ends a program that kept running.
// Hooks run before the components, in reverse order of registration, each
// bounded by its own timeout. main waits with [Manager.Wait], which returns
// the [Report], and prints it.
//
// # Kubernetes advice
//
//   - Set the Manager's timeout ([WithTimeout], default 25 s) a few seconds
//     below terminationGracePeriodSeconds, so the report is printed and the
//     process exits before SIGKILL. A preStop hook's time counts against the
//     same grace period.
//   - Keep hooks short ([WithHookTimeout], default 10 s): they take time from
//     the telemetry drain.
//   - Use Graceful. Kubernetes sends only one SIGTERM; the second signal is
//     for people at a terminal, who press Ctrl-C twice when they mean it.
//   - Give the exporter a timeout shorter than the drain budget (for OTLP,
//     the exporter's own timeout option), so that one stuck request does not
//     use the whole budget.
package lifecycle
