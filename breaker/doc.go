// Package breaker is a circuit breaker: a state machine that stops calls to
// a backend that is failing, gives it time to recover, and probes it before
// letting traffic through again.
//
// Put in front of an exporter (see package exporter), a breaker turns a
// failing backend into a fast error that says when to try again. The
// package has no OpenTelemetry dependency; it guards any call that returns
// an error.
//
// # States
//
// A breaker starts [Closed] and admits every call. It watches each call's
// outcome and trips to [Open] when any of these holds:
//
//   - ConsecutiveFailures failures in a row (default 5);
//   - the failure rate in the sliding window reaches FailureRateThreshold
//     (default 50%), once the window holds MinimumCalls calls (default 10);
//   - the rate of slow calls (longer than SlowCallDuration, default 10 s)
//     reaches SlowCallRateThreshold (default 100%), with the same minimum.
//
// The window is count-based (the last WindowSize calls, default 100) or
// time-based (the calls of the last WindowDuration, default one minute).
//
// An Open breaker refuses every call with an [*OpenError] until its wait is
// over, then becomes [HalfOpen]. The first wait is OpenTimeout (default 5 s);
// every trip that follows a failed probe multiplies it by BackoffMultiplier
// (default 2), up to MaxOpenTimeout (default 2 min), and each wait is
// shortened by a random jitter of up to 20% so that many processes do not
// probe a backend in the same instant. When the breaker closes, the wait
// returns to OpenTimeout. A failure that carries a delay requested by the
// server ([retry.After]: HTTP Retry-After, gRPC RetryInfo) makes the wait
// at least that long, still capped by MaxOpenTimeout so that a bogus header
// cannot silence the pipeline for a day.
//
// A HalfOpen breaker admits HalfOpenMaxCalls probe calls (default 1) and
// refuses the rest. HalfOpenSuccesses successful probes close it; one
// failed probe reopens it with a longer wait, and so do probes that have not
// reported within HalfOpenMaxWait (default 1 min): a probe that hangs must
// not hold the breaker half-open for ever.
//
// The breaker owns no goroutine and no timer: it reads its [Clock] when it is
// called, so an Open breaker whose wait has passed reports HalfOpen the next
// time it is asked.
//
// # Outcomes
//
// Not every error is the backend's fault. [Config.Classify] maps an error to
// [OutcomeSuccess], [OutcomeFailure] or [OutcomeIgnored]; the default,
// [DefaultClassify], ignores errors marked [retry.Permanent] (the request was bad:
// an HTTP 400, a gRPC InvalidArgument) and [context.Canceled] (the caller
// gave up), and counts every other error, including
// [context.DeadlineExceeded] — a backend that hangs — as a failure. Ignored
// calls are neither successes nor failures; an ignored probe frees its slot
// for another.
//
// # Using a breaker
//
// [Breaker.Allow] asks to make one call and returns a done function to
// report its error; the breaker times the call between the two.
// [Breaker.Execute] wraps both around a function. A refusal is an
// [*OpenError]: errors.Is(err, [ErrOpen]) holds, and its RetryAt field says
// when a call may be admitted. [Breaker.State], [Breaker.RetryAt] and
// [Breaker.Counts] serve telemetry; [Config.OnStateChange] reports every
// transition.
//
// # Configuration
//
// The zero [Config] is a sane default: every zero field takes the default
// documented on it. Negative durations and counts, rates outside (0, 1],
// NaN and infinite floats, a WindowSize above [MaxWindowSize], and
// contradictory settings are errors; [Config.Validate] reports them with
// the field's name, its value and the limit, each wrapping
// [ErrInvalidConfig]. [New] returns the same error; [MustNew], for a
// Config that is a constant of the program, panics with it.
//
// # Limits
//
// Every valid Config works, however extreme, and the arithmetic saturates
// instead of overflowing:
//
//   - durations (OpenTimeout, MaxOpenTimeout, HalfOpenMaxWait,
//     SlowCallDuration, WindowDuration) may be anything up to
//     math.MaxInt64, about 292 years. An Open wait is computed in float64
//     and clamped to MaxOpenTimeout before it becomes a Duration again, and
//     no deadline (RetryAt, the probes' deadline) is ever before the time
//     it was set, even at the end of time.Time's range;
//   - counts (ConsecutiveFailures, MinimumCalls, HalfOpenMaxCalls,
//     HalfOpenSuccesses) may be anything up to math.MaxInt; a count that
//     can never be reached switches its condition off;
//   - WindowSize is at most MaxWindowSize, 1<<20 calls (default 100): it is
//     the only field that sizes an allocation, one byte a call;
//   - BackoffMultiplier must be finite and >= 1 (default 2); a wait that
//     would grow past MaxOpenTimeout is MaxOpenTimeout;
//   - a server's delay ([retry.After]) counts as none if negative, and
//     as MaxOpenTimeout if longer;
//   - a TimeWindow needs a Clock between the years 1678 and 2262, the range
//     of Time.UnixNano (any real clock); outside it calls may be miscounted,
//     nothing worse;
//   - the queue of state changes waiting for a slow OnStateChange holds
//     1024; past that, consecutive changes are merged.
//
// # User code
//
// The breaker calls user code — Classify, OnStateChange, Clock, Rand, and
// the Unwrap and As methods of the errors it is given — and none of it can
// wedge the breaker. If it panics, the breaker completes the operation in a
// consistent state (a call whose classifier panicked counts as a failure, a
// Clock that panics is replaced by the last time it told, a Rand that
// panics by no jitter), releases its lock, and then lets the panic continue
// in the goroutine that called the breaker. The breaker starts no goroutine,
// so no other goroutine can be killed by it. See each field's doc for the
// details.
package breaker
