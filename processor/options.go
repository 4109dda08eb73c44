package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/setting"
	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/otlperr"
	"github.com/steadylog/steadylog/retry"
	"github.com/steadylog/steadylog/telemetry"
)

// Defaults. The batch, interval and timeout defaults are those of the
// OpenTelemetry specification's batch log record processor, and its
// environment variables are honoured, so steadylog is a drop-in
// replacement for the SDK's BatchProcessor. The queue is bounded by bytes
// first: see DefaultMaxQueueBytes.
const (
	// DefaultMaxQueueBytes is the default byte budget of the queue: 32 MiB.
	// Unless WithMaxQueueSize or OTEL_BLRP_MAX_QUEUE_SIZE sets a count
	// bound, the count bound follows it: as many records as the budget
	// holds at the smallest size a queued record can have, packed, so the
	// byte budget is the bound that applies. When it is full, the oldest
	// records are packed (encoded) before any is evicted.
	DefaultMaxQueueBytes int64 = 32 << 20
	// DefaultExportMaxBatchSize is the default maximum number of records per
	// export.
	DefaultExportMaxBatchSize = 512
	// DefaultExportInterval is the default longest time a record waits
	// for a batch to fill before it is exported.
	DefaultExportInterval = time.Second
	// DefaultExportTimeout is the default time one Export call may take.
	DefaultExportTimeout = 30 * time.Second
)

// Environment variables read by New when the matching option is not given.
// Durations are whole milliseconds, as the OpenTelemetry specification
// defines them, from 1 to MaxEnvMilliseconds; sizes are positive integers
// that fit an int (int64 for bytes). A value outside those limits, or one
// that does not parse, is reported to the error handler and the default is
// used.
const (
	EnvMaxQueueSize       = "OTEL_BLRP_MAX_QUEUE_SIZE"
	EnvExportMaxBatchSize = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
	EnvExportInterval     = "OTEL_BLRP_SCHEDULE_DELAY"
	EnvExportTimeout      = "OTEL_BLRP_EXPORT_TIMEOUT"
	// EnvMaxQueueBytes is not in the specification. It is a byte size: a
	// whole number, optionally followed by a unit, case-insensitive, with
	// at most one space between: B; KiB, MiB, GiB, TiB and the Kubernetes
	// forms Ki, Mi, Gi, Ti (powers of 1024); KB, MB, GB, TB and K, M, G, T
	// (powers of 1000, as in SI and Kubernetes). 64MiB, 64Mi and 67108864
	// are the same size; fractions, exponents and negative numbers are
	// refused. At least MinQueueBytes.
	EnvMaxQueueBytes = "STEADYLOG_BLRP_MAX_QUEUE_BYTES"
)

// Environment variables of the overflow policy. They are steadylog's own
// until the OpenTelemetry specification settles: PR #5181 proposes
// OTEL_BLRP_ON_QUEUE_FULL=DROP|BLOCK and
// OTEL_BLRP_BLOCK_ON_QUEUE_FULL_TIMEOUT (milliseconds), which map to
// these with DROP as drop_oldest (what the Go SDK does when full).
const (
	// EnvOnQueueFull is drop_oldest (or drop), drop_newest or block,
	// in any case.
	EnvOnQueueFull = "STEADYLOG_BLRP_ON_QUEUE_FULL"
	// EnvBlockTimeout is the block policy's timeout, in whole
	// milliseconds.
	EnvBlockTimeout = "STEADYLOG_BLRP_BLOCK_ON_QUEUE_FULL_TIMEOUT"
)

// DefaultBlockTimeout is the timeout of the block policy when it is chosen
// through the environment (EnvOnQueueFull=block) without
// EnvBlockTimeout.
const DefaultBlockTimeout = 5 * time.Second

// MaxEnvMilliseconds is the largest duration, in milliseconds, that a
// duration environment variable may hold: the longest time.Duration
// (about 292 years). Larger values would overflow, so they are refused.
const MaxEnvMilliseconds = int64(math.MaxInt64 / int64(time.Millisecond))

// MinExportInterval is the shortest valid export interval, the unit the
// OTEL_BLRP_SCHEDULE_DELAY environment variable is written in.
const MinExportInterval = time.Millisecond

// MinQueueBytes is the smallest valid byte budget: the size, as
// memguard.RecordSize counts it, of an empty record — the sdklog.Record
// struct stored by value in a queue slot (584 bytes on 64-bit platforms
// with go.opentelemetry.io/otel/sdk/log v1.47.0). A smaller budget could
// hold no record at all.
const MinQueueBytes = int64(unsafe.Sizeof(sdklog.Record{}))

// ErrInvalidOption is wrapped by the error New returns for an option given
// an invalid value.
var ErrInvalidOption = errors.New("steadylog/processor: invalid option")

// ErrNilExporter is returned by New when the exporter is nil.
var ErrNilExporter = errors.New("steadylog/processor: exporter is nil")

// Option configures a Processor. Options are applied in order, the later
// overriding the earlier; an option given an invalid value, or a nil
// Option, makes New fail with an error wrapping ErrInvalidOption.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// values holds what the options set. newConfig resolves each, option →
// environment variable → default, into the fields of config that the
// processor reads.
type values struct {
	maxQueueSize    setting.Value[int]
	maxQueueBytes   setting.Value[int64]
	maxBatchSize    setting.Value[int]
	exportInterval  setting.Value[time.Duration]
	exportTimeout   setting.Value[time.Duration]
	overflow        setting.Value[OverflowPolicy]
	overflowFrom    setting.Value[severityPolicy]
	evictBelow      setting.Value[log.Severity]
	heap            setting.Value[*memguard.HeapMonitor] // set to nil by WithoutHeapMonitor
	watermarks      setting.Value[watermarks]
	pressureHold    setting.Value[time.Duration]
	retryBackoff    setting.Value[backoffBounds]
	retryMaxElapsed setting.Value[time.Duration]
	classify        setting.Value[retry.Classifier] // set to nil: no classification
}

// severityPolicy is the overflow policy of records at or above a severity
// (WithOverflowFrom).
type severityPolicy struct {
	from   log.Severity
	policy OverflowPolicy
}

// watermarks are the fractions of WithBackPressure.
type watermarks struct{ high, low float64 }

// backoffBounds are the waits of WithRetryBackoff.
type backoffBounds struct{ initial, ceiling time.Duration }

// config holds the resolved settings, read-only once New returns.
type config struct {
	set     values          // what the options set
	invalid *setting.Errors // the invalid values options were given

	maxQueueSize     int
	maxQueueBytes    int64
	maxBatchSize     int
	exportInterval   time.Duration
	exportTimeout    time.Duration
	severityEviction bool // WithSeverityEviction was given
	evictBelow       log.Severity
	errorHandler     func(error)
	errs             errorsConfig // the default error handler; see errors.go
	retryInitial     time.Duration
	retryMax         time.Duration
	noRetry          bool
	retryMaxElapsed  time.Duration
	bridgeOutages    bool             // a spool, and no WithRetryMaxElapsed: see spooloutage.go
	classify         retry.Classifier // nil: no classification (see WithErrorClassifier)
	overflow         OverflowPolicy   // records below overflowFrom, or all
	overflowSplit    bool             // WithOverflowFrom was given
	overflowFrom     log.Severity
	overflowHigh     OverflowPolicy
	budget           *memguard.Budget
	heap             *memguard.HeapMonitor
	highMark         float64
	lowMark          float64
	pressureHold     time.Duration                                  // see WithBackPressureHold
	holdTimer        func(time.Duration) (<-chan time.Time, func()) // nil: a time.Timer; tests replace it
	retryClock       clock.Clock                                    // the retry schedule's clock; nil: clock.Real(); tests replace it
	onPressure       func(BackPressure)
	shedBelow        log.Severity
	tel              telemetryConfig
	spool            *spoolConfig // WithSpool; nil without a spool
	lookupEnv        func(string) (string, bool)
}

// reject records an invalid value given to an option, for the options
// declared beside the settings they feed (telemetry.go, errors.go).

// validSeverity rejects a severity threshold of option opt outside the
// defined range, and reports whether it was valid.
func (c *config) validSeverity(opt string, threshold log.Severity) bool {
	return setting.Between(c.invalid, opt, int(threshold), int(log.SeverityTrace1), int(log.SeverityFatal4))
}

// WithMaxQueueSize sets the maximum number of records the queue holds.
// When it is full, the oldest record is evicted (DropQueueFull) to admit
// the newest.
//
// Default: OTEL_BLRP_MAX_QUEUE_SIZE, else what the byte budget holds at
// the smallest size a queued record can have, packed (WithMaxQueueBytes /
// 32 B: 1,048,576 with the default 32 MiB), so that the byte budget is the
// bound that applies. A value ≤ 0 makes New fail.
func WithMaxQueueSize(n int) Option {
	return optionFunc(func(c *config) {
		if setting.Positive(c.invalid, "WithMaxQueueSize", n) {
			c.set.maxQueueSize = setting.Of(n)
		}
	})
}

// WithMaxQueueBytes sets the byte budget of the processor, measured with
// memguard.RecordSize. It covers every record the processor keeps alive:
// the queued ones and the batch being exported, so it bounds the
// processor's memory even while an exporter hangs on a large batch. When
// admitting a record would exceed it, the oldest queued records are
// evicted (DropByteLimit); a record larger than the whole budget is
// refused on its own (DropRecordTooLarge). An export starts as soon as
// half the budget is queued.
//
// Default: STEADYLOG_BLRP_MAX_QUEUE_BYTES, else 32 MiB. A value below
// MinQueueBytes, the size of the smallest record, makes New fail: no
// record would ever fit.
func WithMaxQueueBytes(n int64) Option {
	return optionFunc(func(c *config) {
		if n < MinQueueBytes {
			c.invalid.Reject("WithMaxQueueBytes(%d): must be at least %d bytes, the size of the smallest record", n, MinQueueBytes)
			return
		}
		c.set.maxQueueBytes = setting.Of(n)
	})
}

// WithExportMaxBatchSize sets the maximum number of records in one Export
// call, as the SDK's option of the same name does. An export starts as
// soon as this many records are queued. A value above the maximum queue
// size is clamped to it, and so is one above the number of queue slots
// the byte budget holds, since such a batch could never fill: a slot is
// MinQueueBytes plus 24 bytes of bookkeeping (608 bytes on 64-bit
// platforms with sdk/log v1.47.0), so the default 32 MiB holds 55,188
// and 1 MiB 1,724.
//
// Default: OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, else 512. A value ≤ 0 makes
// New fail.
func WithExportMaxBatchSize(n int) Option {
	return optionFunc(func(c *config) {
		if setting.Positive(c.invalid, "WithExportMaxBatchSize", n) {
			c.set.maxBatchSize = setting.Of(n)
		}
	})
}

// WithExportInterval sets the longest time a queued record waits before an
// export starts when fewer than a full batch are queued.
//
// Default: OTEL_BLRP_SCHEDULE_DELAY (milliseconds), else 1s. A value below
// MinExportInterval makes New fail: the worker's ticker would keep a core
// busy for nothing.
func WithExportInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < MinExportInterval {
			c.invalid.Reject("WithExportInterval(%v): must be at least %v", d, MinExportInterval)
			return
		}
		c.set.exportInterval = setting.Of(d)
	})
}

// WithExportTimeout sets how long one Export call may take. The exporter
// receives a context with this deadline, which ends with
// context.DeadlineExceeded; when the ForceFlush or Shutdown the export runs
// for gives up first, the context is cancelled instead (context.Canceled),
// so that a circuit breaker does not charge the caller's deadline to the
// backend.
//
// Default: OTEL_BLRP_EXPORT_TIMEOUT (milliseconds), else 30s. A value ≤ 0
// makes New fail.
func WithExportTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if setting.Positive(c.invalid, "WithExportTimeout", d) {
			c.set.exportTimeout = setting.Of(d)
		}
	})
}

// WithOverflow sets what happens to a record that does not fit: see
// OverflowPolicy.
//
// Default: STEADYLOG_BLRP_ON_QUEUE_FULL, else DropOldest. Block with a
// timeout ≤ 0 makes New fail.
func WithOverflow(policy OverflowPolicy) Option {
	return optionFunc(func(c *config) {
		if !policy.valid() {
			c.invalid.Reject("WithOverflow(%v): the block timeout must be positive", policy)
			return
		}
		c.set.overflow = setting.Of(policy)
	})
}

// WithOverflowFrom sets the overflow policy of records whose severity is
// at or above threshold; the others follow WithOverflow. Records with an
// undefined severity (0) are below any threshold.
//
// Default: none (every record follows WithOverflow). A threshold outside
// [log.SeverityTrace1, log.SeverityFatal4], or Block with a timeout ≤ 0,
// makes New fail.
func WithOverflowFrom(threshold log.Severity, policy OverflowPolicy) Option {
	return optionFunc(func(c *config) {
		if !c.validSeverity("WithOverflowFrom", threshold) {
			return
		}
		if !policy.valid() {
			c.invalid.Reject("WithOverflowFrom(%d, %v): the block timeout must be positive", threshold, policy)
			return
		}
		c.set.overflowFrom = setting.Of(severityPolicy{threshold, policy})
	})
}

// WithSeverityEviction makes eviction prefer records less severe than
// threshold: when the queue must make room, the oldest record with a
// severity below threshold is evicted first — the incoming record
// included as a candidate. Only when every candidate is at or above
// threshold is the oldest record overall evicted. Export order stays
// arrival order. Records with an undefined severity (0) count as below any
// threshold.
//
// Default: off (plain drop-oldest). A threshold outside
// [log.SeverityTrace1, log.SeverityFatal4] makes New fail.
func WithSeverityEviction(threshold log.Severity) Option {
	return optionFunc(func(c *config) {
		if c.validSeverity("WithSeverityEviction", threshold) {
			c.set.evictBelow = setting.Of(threshold)
		}
	})
}

// WithBudget makes the processor take the bytes of every record it keeps
// (queued or in flight, as memguard.RecordSize counts them) from budget as
// well as from its own byte bound, and give them back when the record is
// exported, dropped or shut down: processors sharing one budget never hold
// more than it together, and budget.Used() is 0 once all of them are shut
// down. When the budget is exhausted, the overflow policy applies as for
// the processor's own bounds — DropOldest evicts this processor's oldest
// records (it cannot evict another's), DropNewest refuses, Block waits —
// and drops count as byte_limit.
//
// Default: no shared budget. nil makes New fail.
func WithBudget(budget *memguard.Budget) Option {
	return optionFunc(func(c *config) {
		if setting.NotNil(c.invalid, "WithBudget", budget) {
			c.budget = budget
		}
	})
}

// WithHeapMonitor sets the monitor that tells the processor how close the
// Go heap is to the program's memory limit (GOMEMLIMIT, or the monitor's
// own WithLimit). While it reports high pressure, the processor keeps at
// most HeapPressureShare of its byte budget: records beyond that are
// handled by the overflow policy and counted as heap_pressure, so that the
// process is not OOM-killed for its logs. The monitor is consulted only
// when a record would take the processor past that share, so it costs
// nothing while the queue is small.
//
// Default: one monitor shared by every processor of the process, with
// memguard's defaults (high at 85% of GOMEMLIMIT). Without GOMEMLIMIT it
// never reports pressure, so the default changes nothing for a program that
// sets no memory limit. nil makes New fail; see WithoutHeapMonitor.
func WithHeapMonitor(m *memguard.HeapMonitor) Option {
	return optionFunc(func(c *config) {
		if m == nil {
			c.invalid.Reject("WithHeapMonitor(nil): must not be nil (use WithoutHeapMonitor)")
			return
		}
		c.set.heap = setting.Of(m)
	})
}

// WithoutHeapMonitor turns heap-pressure shedding off.
func WithoutHeapMonitor() Option {
	return optionFunc(func(c *config) { c.set.heap = setting.Of[*memguard.HeapMonitor](nil) })
}

// WithBackPressure sets the watermarks of back-pressure, as fractions of
// the count bound and of the byte bound: it is raised as soon as either
// bound is filled to high or more, and cleared once both have stayed below
// low for the hold time (WithBackPressureHold, 1s by default). Going back
// to low or above during the hold, or past high, continues the same
// episode: a queue that drains in bursts and refills makes one raised and
// one cleared, not a pair per burst. Raised, it shows in Stats
// (BackPressure), in the steadylog.processor.backpressure metric, as a
// line on the drop-alert logger (at most one raised line per alert
// interval, and a cleared line after each one written), to the
// WithBackPressureFunc callback, and, with WithShedBelow, in Enabled —
// before anything is dropped. All of them see one state, so shedding
// goes on through the hold.
//
// Default: 0.8 and 0.6. Values outside 0 < low ≤ high ≤ 1 make New fail.
func WithBackPressure(high, low float64) Option {
	return optionFunc(func(c *config) {
		if !(low > 0 && low <= high && high <= 1) {
			c.invalid.Reject("WithBackPressure(%v, %v): want 0 < low <= high <= 1", high, low)
			return
		}
		c.set.watermarks = setting.Of(watermarks{high: high, low: low})
	})
}

// WithBackPressureHold sets how long the queue must stay below the low
// watermark (WithBackPressure), without going back to it, before
// back-pressure is cleared. Raising is never delayed: the high watermark
// is the early warning. Shutdown ends an episode without waiting: once it
// has begun, back-pressure is cleared as soon as the queue is below low.
//
// The hold is timed by a goroutine of the processor's, not by OnEmit; it
// starts when that goroutine sees the queue below low, so the clearing
// comes at least d after the queue fell below it.
//
// Default: 1s (DefaultBackPressureHold). 0 clears as soon as the queue is
// below low, as a watermark gap alone does. A negative d makes New fail.
func WithBackPressureHold(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if setting.NonNegative(c.invalid, "WithBackPressureHold", d) {
			c.set.pressureHold = setting.Of(d)
		}
	})
}

// WithBackPressureFunc sets a function called when back-pressure is raised
// or cleared, so that a service can react before anything is dropped
// (slow its intake, sample its debug logs). It is called from a goroutine
// of the processor's, never from OnEmit, one call at a time; changes that
// happen while it runs are coalesced into the next call. A panic in it is
// recovered. It must not block for long: while it runs, later changes wait.
//
// Default: none. nil makes New fail.
func WithBackPressureFunc(fn func(BackPressure)) Option {
	return optionFunc(func(c *config) {
		if setting.NotNil(c.invalid, "WithBackPressureFunc", fn) {
			c.onPressure = fn
		}
	})
}

// WithShedBelow makes Enabled report false, while back-pressure is raised,
// for records with a severity below threshold, so that the bridge (otelslog,
// otelzap) never builds them. Each such answer is counted as received and dropped with
// reason shed, so the accounting stays exact. (When another processor of
// the same provider still wants the record, the SDK emits it to every
// processor: it then reaches OnEmit as well and is counted again.)
// Records with an undefined severity (0) are below any threshold.
//
// Default: off (Enabled always reports true). A threshold outside
// [log.SeverityTrace1, log.SeverityFatal4] makes New fail.
func WithShedBelow(threshold log.Severity) Option {
	return optionFunc(func(c *config) {
		if c.validSeverity("WithShedBelow", threshold) {
			c.shedBelow = threshold
		}
	})
}

// WithRetryBackoff sets the wait before retrying a batch whose export
// failed transiently: initial after the first failure, doubling (with
// ±20% jitter) up to ceiling. A failure that carries a server-requested delay
// (retry.After) waits at least that long; a refusal by an open
// breaker waits until the breaker admits a probe. No wait, whatever its
// source, reaches past the end of the outage's retry budget
// (WithRetryMaxElapsed): a Retry-After of ten hours means one last attempt
// when that time is up.
//
// A retried batch stays pending: it is the destination's oldest, older
// than everything queued since, so while the store keeps admitting and
// overflows, the retried records are the first evicted. Errors marked
// retry.Permanent, and exporter panics, are not retried: their records
// are dropped as export_failed.
//
// Default: on, with 100ms and 500ms. Non-positive values, or ceiling < initial,
// make New fail.
func WithRetryBackoff(initial, ceiling time.Duration) Option {
	return optionFunc(func(c *config) {
		if initial <= 0 || ceiling < initial {
			c.invalid.Reject("WithRetryBackoff(%v, %v): want 0 < initial <= ceiling", initial, ceiling)
			return
		}
		c.set.retryBackoff = setting.Of(backoffBounds{initial: initial, ceiling: ceiling})
	})
}

// WithRetryMaxElapsed sets the retry budget of an outage: how long a
// destination retries, counted from its first failure after a success
// (waits for an open breaker and server-requested delays included: they
// are cut short at this limit). When it is spent, the batch being retried
// is dropped as export_failed, and every later batch gets one attempt,
// without a backoff wait, until an export succeeds: an outage of seconds
// is ridden out, a long one fails fast instead of holding stale records,
// and Shutdown with a context that never ends, against a dead backend,
// ends in about one budget however many batches are pending.
//
// With a spool (WithSpool) and no WithRetryMaxElapsed, a spent budget
// drops nothing the spool holds: the disk bounds the backlog
// (WithSpoolMaxBytes, WithSpoolMaxAge), and they decide what is lost.
// Once the budget is spent the batch stays queued, and the destination
// keeps retrying at its backoff ceiling (or when its breaker admits a
// probe, at least once a budget) until the backend is back; only records
// that memory holds because the spool cannot write (Stats.Spool.Degraded)
// are dropped. The budget then bounds how long ForceFlush and Shutdown
// wait for the outage: they return an error wrapping ErrQueuedInSpool,
// and Shutdown leaves the records in the spool for the next start.
// Given explicitly, the budget is a limit on staleness, and drops with a
// spool as without one.
//
// Default: 1 minute. A value ≤ 0 makes New fail.
func WithRetryMaxElapsed(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if setting.Positive(c.invalid, "WithRetryMaxElapsed", d) {
			c.set.retryMaxElapsed = setting.Of(d)
		}
	})
}

// WithoutRetry drops a batch whose export fails (export_failed) instead of
// retrying it.
func WithoutRetry() Option {
	return optionFunc(func(c *config) { c.noRetry = true })
}

// WithErrorClassifier sets the function that marks export errors before
// the processor decides what to do with them: an error marked
// retry.Permanent is not retried (its batch is dropped as export_failed),
// and one marked retry.After waits at least that long. The result must
// wrap err. nil turns classification off: every error but a panic is then
// retried.
//
// It is each destination's only classifier, applied once per error, and
// its breaker sees its verdict: a breaker decorator below the processor
// (Destination.Breaker, or an exporter.NewBreaker the exporter was
// wrapped in) applies it, in place of its own
// (exporter.WithStandaloneClassifier), to the exporter's error before
// counting the call, and the processor does not classify that error again.
// An error no breaker classified — an exporter without one, a breaker's
// refusal, a failover's combined error — is classified by the processor.
//
// Default: otlperr.Classify, the OTLP exporters' classification
// (HTTP 4xx other than 429 and gRPC InvalidArgument and the like are
// permanent; Retry-After and RetryInfo are honoured), with or without a
// breaker. Other errors pass through it unchanged.
func WithErrorClassifier(classify retry.Classifier) Option {
	return optionFunc(func(c *config) { c.set.classify = setting.Of(classify) })
}

// WithErrorHandler sets the function that receives export errors and
// configuration warnings (such as an unparsable environment variable). It
// is called from the processor's worker goroutines or from New, never from
// OnEmit, once per error (a retried batch fails once per attempt), and
// must not block for long. A panic in it is recovered.
//
// h must not feed this processor. otel.Handle is a handler that may: the
// default global OpenTelemetry error handler writes to the log package,
// and slog.SetDefault routes the log package into slog's default logger.
// In a program that did slog.SetDefault(otelslog.NewLogger(...)), as the
// Quick start does, WithErrorHandler(otel.Handle) turns every failed
// export into a new record for the same processor: the reports count as
// received, fail to export in turn and report again, so an outage feeds
// itself, and nothing reaches the operator's terminal. Pass otel.Handle
// only with a global handler set by otel.SetErrorHandler that writes
// elsewhere.
//
// Default: a telemetry.ErrorReporter per processor, writing to a log/slog
// text handler on os.Stderr, the first error of a kind at once and its
// repeats once per 10s (see WithErrorLog). Shutdown writes its last
// summary. Of WithErrorHandler and WithErrorLog, the last given applies.
// A nil h makes New fail.
func WithErrorHandler(h func(error)) Option {
	return optionFunc(func(c *config) {
		if setting.NotNil(c.invalid, "WithErrorHandler", h) {
			c.errorHandler, c.errs.logger = h, nil
		}
	})
}

// newConfig resolves settings option → environment variable → default and
// returns the errors of invalid options.
func newConfig(opts []Option) (config, error) {
	c := config{invalid: setting.NewErrors(ErrInvalidOption), lookupEnv: os.LookupEnv}
	setting.Apply(c.invalid, opts, func(o Option) { o.apply(&c) })
	if err := c.invalid.Err(); err != nil {
		return c, err
	}
	if c.tel.name == "" {
		// Resolved here, not when telemetry starts, so that the error
		// reports carry the name of the metrics and the drop alerts.
		c.tel.name = telemetry.ComponentName(telemetry.ComponentTypeProcessor)
	}
	// Before the environment is read: its warnings go to the handler.
	if err := c.startErrors(); err != nil {
		return c, err
	}
	s := &c.set
	b := s.retryBackoff.Resolve(backoffBounds{initial: DefaultRetryInitial, ceiling: DefaultRetryMax})
	c.retryInitial, c.retryMax = b.initial, b.ceiling
	c.retryMaxElapsed = s.retryMaxElapsed.Resolve(DefaultRetryMaxElapsed)
	c.bridgeOutages = c.spool != nil && !s.retryMaxElapsed.IsSet()
	c.classify = s.classify.Resolve(otlperr.Classify)
	c.maxQueueBytes = s.maxQueueBytes.Resolve(DefaultMaxQueueBytes, c.envBytes(EnvMaxQueueBytes, DefaultMaxQueueBytes))
	// The default count bound follows the byte budget.
	c.maxQueueSize = s.maxQueueSize.Resolve(int(min(c.maxQueueBytes/minPackedBytes, math.MaxInt)),
		c.envInt(EnvMaxQueueSize, "(what the byte budget holds)"))
	c.maxBatchSize = s.maxBatchSize.Resolve(DefaultExportMaxBatchSize, c.envInt(EnvExportMaxBatchSize, strconv.Itoa(DefaultExportMaxBatchSize)))
	c.exportInterval = s.exportInterval.Resolve(DefaultExportInterval, c.envMillis(EnvExportInterval, DefaultExportInterval))
	c.exportTimeout = s.exportTimeout.Resolve(DefaultExportTimeout, c.envMillis(EnvExportTimeout, DefaultExportTimeout))
	c.overflow = s.overflow.Resolve(DropOldest(), c.envOverflow())
	if sp, ok := s.overflowFrom.Get(); ok {
		c.overflowSplit, c.overflowFrom, c.overflowHigh = true, sp.from, sp.policy
	}
	c.evictBelow, c.severityEviction = s.evictBelow.Get()
	c.heap = s.heap.Resolve(nil, func() (*memguard.HeapMonitor, bool) { return defaultHeap(), true })
	w := s.watermarks.Resolve(watermarks{high: DefaultHighWatermark, low: DefaultLowWatermark})
	c.highMark, c.lowMark = w.high, w.low
	c.pressureHold = s.pressureHold.Resolve(DefaultBackPressureHold)
	if c.holdTimer == nil {
		c.holdTimer = newHoldTimer
	}
	if c.retryClock == nil {
		c.retryClock = clock.Real()
	}
	// A batch can never be larger than the queue that feeds it; the
	// specification asks for the same clamp.
	if c.maxBatchSize > c.maxQueueSize {
		c.maxBatchSize = c.maxQueueSize
	}
	// Nor larger than the byte budget holds at the smallest record size:
	// such a batch could never fill, and a batch is one chunk of slots,
	// whose size bounds the slots the budget does not count (see
	// newQueue).
	if perBatch := max(c.maxQueueBytes/slotBytes, 1); int64(c.maxBatchSize) > perBatch {
		c.maxBatchSize = int(perBatch)
	}
	return c, nil
}

// The environment variables are read through setting.Env: a value that is
// unset or empty gives none; one that does not parse, or is out of range,
// is reported to the error handler and the default is used — a typo in a
// deployment manifest must be visible, but must not stop the service from
// logging.

// envWarn reports a bad environment variable, naming the default used in
// its place (def, in the units people write).
func (c *config) envWarn(def string) func(error) {
	return func(err error) { c.warn(fmt.Errorf("steadylog/processor: ignoring %w %s", err, def)) }
}

// envInt reads a positive integer that fits an int from the environment.
func (c *config) envInt(key, def string) func() (int, bool) {
	return setting.Env(c.lookupEnv, key, func(s string) (int, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 || v > math.MaxInt {
			return 0, fmt.Errorf("want an integer from %d to %d", 1, math.MaxInt)
		}
		return int(v), nil
	}, c.envWarn(def))
}

// envBytes reads a byte size (see parseSize: 64MiB, 512KiB, 1GiB, 64Mi,
// plain bytes) of at least MinQueueBytes from the environment.
func (c *config) envBytes(key string, def int64) func() (int64, bool) {
	return setting.Env(c.lookupEnv, key, func(s string) (int64, error) {
		v, err := parseSize(s)
		if err == nil && v < MinQueueBytes {
			err = fmt.Errorf("size %q is %d bytes, below the smallest record (%d bytes)", s, v, MinQueueBytes)
		}
		if err != nil {
			return 0, fmt.Errorf("%v; want a size such as 64MiB, 512KiB or a plain number of bytes", err)
		}
		return v, nil
	}, c.envWarn(formatSize(def)))
}

// envMillis reads a duration in whole milliseconds, from 1 to
// MaxEnvMilliseconds, from the environment.
func (c *config) envMillis(key string, def time.Duration) func() (time.Duration, bool) {
	return setting.Env(c.lookupEnv, key, func(s string) (time.Duration, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 || v > MaxEnvMilliseconds {
			return 0, fmt.Errorf("want whole milliseconds from 1 to %d", MaxEnvMilliseconds)
		}
		return time.Duration(v) * time.Millisecond, nil
	}, c.envWarn(fmt.Sprintf("%d (%v)", def/time.Millisecond, def)))
}

// envOverflow reads the overflow policy from EnvOnQueueFull and, for
// block, its timeout from EnvBlockTimeout.
func (c *config) envOverflow() func() (OverflowPolicy, bool) {
	return setting.Env(c.lookupEnv, EnvOnQueueFull, func(s string) (OverflowPolicy, error) {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "drop_oldest", "drop":
			return DropOldest(), nil
		case "drop_newest":
			return DropNewest(), nil
		case "block":
			timeout, ok := c.envMillis(EnvBlockTimeout, DefaultBlockTimeout)()
			if !ok {
				timeout = DefaultBlockTimeout
			}
			return Block(timeout), nil
		}
		return OverflowPolicy{}, errors.New("want drop_oldest, drop_newest or block")
	}, c.envWarn("drop_oldest"))
}

// warn reports a configuration problem to the error handler, which is user
// code: a panic in it must not fail New.
func (c *config) warn(err error) { safeHandle(c.errorHandler, err) }

// WithMeterProvider makes the processor report metrics about itself
// through mp: queue size and capacity in records and bytes, records
// processed by outcome (exported, or dropped with the DropReason as
// error.type), and histograms of export duration and queue wait. The
// telemetry package documents each metric.
//
// The counters and gauges are observed from Stats when mp collects, so
// they always agree with Stats and OnEmit pays nothing for them; the
// histograms are recorded by the worker goroutine, once per export and for
// up to 32 evenly spaced records of each batch, without allocating.
//
// Default: no metrics, at no cost. nil makes New fail.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if setting.NotNil(c.invalid, "WithMeterProvider", mp) {
			c.tel.meterProvider = mp
		}
	})
}

// WithName sets the otel.component.name of the processor's metrics and
// drop alerts, for example "audit-log". Give each processor of a process
// its own name.
//
// Default: "steadylog_batching_log_processor/<n>", where n counts the
// processors created in the process, from 0. An empty name makes New fail.
func WithName(name string) Option {
	return optionFunc(func(c *config) {
		if name == "" {
			c.invalid.Reject("WithName(\"\"): must not be empty")
			return
		}
		c.tel.name = name
	})
}

// WithDropAlerts sets where drop alerts go and how often. When records are
// dropped, the processor writes one summary line at level Warn to logger,
// at most once per interval:
//
//	dropped 1520 log records in the last 10s: queue_full=1500, byte_limit=20
//
// The check runs on its own goroutine, so OnEmit never waits for logger,
// and it keeps reporting while the exporter hangs. Shutdown writes a last
// summary of the drops not reported yet. logger must not feed this
// processor (for instance through otelslog): the alert would be dropped
// with the records it reports.
//
// Default: on, every 10s, to a log/slog text handler on os.Stderr, which
// depends on nothing the failing pipeline does. A nil logger or an
// interval ≤ 0 makes New fail.
func WithDropAlerts(logger *slog.Logger, interval time.Duration) Option {
	return optionFunc(func(c *config) {
		ok := setting.NotNil(c.invalid, "WithDropAlerts", logger)
		if setting.Positive(c.invalid, "WithDropAlerts", interval) && ok {
			c.tel.alertLogger, c.tel.alertInterval, c.tel.noAlerts = logger, interval, false
		}
	})
}

// WithoutDropAlerts turns drop alerts off. Drops are still counted in
// Stats and, with WithMeterProvider, in the metrics.
func WithoutDropAlerts() Option {
	return optionFunc(func(c *config) { c.tel.noAlerts = true })
}

// WithErrorLog sets where the processor's default error handler writes
// and how often: export errors and configuration warnings are written to
// logger at level Error, the first error of a kind at once, its repeats as
// one summary line per interval with their count and the latest error:
//
//	level=ERROR msg="steadylog: error" count=1 error="steadylog/processor: export of 512 records failed (will be retried): … connect: connection refused" otel.component.name=audit-log
//	level=ERROR msg="steadylog: error" count=23 interval=10s error="steadylog/processor: export of 498 records failed (will be retried): … connect: connection refused" otel.component.name=audit-log
//
// Errors that differ only in their numbers (record counts, addresses,
// status codes) are one kind; telemetry.ErrorReporter documents the rule
// and its bounds. The lines are written on the handler's own goroutine:
// the worker (or New) waits for the first line of a kind, so that it is
// out when the report returns, but at most telemetry.FirstLineWait
// (100ms), and not at all while logger is stuck; repeats never wait.
// Shutdown writes a last summary of what was not written yet. logger must not feed this
// processor (for instance through otelslog): an error report would become
// one more record for the pipeline that failed to export it.
//
// Default: on, every 10s (telemetry.DefaultAlertInterval), to a log/slog text
// handler on os.Stderr (telemetry.DefaultAlertLogger), which depends on
// nothing the failing pipeline does. WithErrorHandler replaces it; of the
// two, the last given applies. A nil logger or an interval ≤ 0 makes New
// fail.
func WithErrorLog(logger *slog.Logger, interval time.Duration) Option {
	return optionFunc(func(c *config) {
		ok := setting.NotNil(c.invalid, "WithErrorLog", logger)
		if setting.Positive(c.invalid, "WithErrorLog", interval) && ok {
			c.errs.logger, c.errs.interval, c.errorHandler = logger, interval, nil
		}
	})
}
