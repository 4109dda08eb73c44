package processor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/memguard"
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
	// records are packed (encoded) before any is evicted: the default
	// holds about 245,000 small records (a short message and three
	// attributes), where the SDK's count bound of 2048 holds 30 ms of a
	// service logging 65,000 records a second. 32 MiB keeps the worst case well below the memory
	// limits of a small container (128–256 MiB).
	DefaultMaxQueueBytes int64 = 32 << 20
	// DefaultMaxBatchSize is the default maximum number of records per
	// export.
	DefaultMaxBatchSize = 512
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
	EnvMaxQueueSize   = "OTEL_BLRP_MAX_QUEUE_SIZE"
	EnvMaxBatchSize   = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
	EnvExportInterval = "OTEL_BLRP_SCHEDULE_DELAY"
	EnvExportTimeout  = "OTEL_BLRP_EXPORT_TIMEOUT"
	// EnvMaxQueueBytes is not in the specification. It is a byte size: a
	// whole number, optionally followed by a unit, case-insensitive, with
	// at most one space between: B; KiB, MiB, GiB, TiB and the Kubernetes
	// forms Ki, Mi, Gi, Ti (powers of 1024); KB, MB, GB, TB and K, M, G, T
	// (powers of 1000, as in SI and Kubernetes). 64MiB, 64Mi and 67108864
	// are the same size; fractions, exponents and negative numbers are
	// refused. At least MinQueueBytes.
	EnvMaxQueueBytes = "STEADYLOG_BLRP_MAX_QUEUE_BYTES"
)

// MaxEnvMilliseconds is the largest duration, in milliseconds, that a
// duration environment variable may hold: the longest time.Duration
// (about 292 years). Larger values would overflow, so they are refused.
const MaxEnvMilliseconds = int64(math.MaxInt64 / int64(time.Millisecond))

// MinExportInterval is the shortest valid export interval, the unit the
// OTEL_BLRP_SCHEDULE_DELAY environment variable is written in.
const MinExportInterval = time.Millisecond

// MinQueueBytes is the smallest valid byte budget: the size, as
// memguard.RecordSize counts it, of an empty record, which is what a queue
// slot costs. A smaller budget could hold no record at all.
var MinQueueBytes = memguard.RecordSize(&sdklog.Record{})

// ErrInvalidOption is wrapped by the error New returns for an option given
// an invalid value.
var ErrInvalidOption = errors.New("steadylog/processor: invalid option")

// ErrNilExporter is returned by New when the exporter is nil.
var ErrNilExporter = errors.New("steadylog/processor: exporter is nil")

// Option configures a Processor.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config holds the resolved settings. A zero field means "not set by an
// option"; explicit non-positive values are recorded in invalid so New can
// reject them instead of silently applying a default.
type config struct {
	maxQueueSize     int
	maxQueueBytes    int64
	maxBatchSize     int
	exportInterval   time.Duration
	exportTimeout    time.Duration
	evictBelow       log.Severity
	severityEviction bool
	errorHandler     func(error)
	errs             errorsConfig // the default error handler; see errors.go
	retryInitial     time.Duration
	retryMax         time.Duration
	noRetry          bool
	retryMaxElapsed  time.Duration
	classify         func(error) error // see WithErrorClassifier
	classifySet      bool
	overflow         OverflowPolicy // records below overflowFrom, or all
	overflowSet      bool
	overflowSplit    bool // WithOverflowFrom was given
	overflowFrom     log.Severity
	overflowHigh     OverflowPolicy
	budget           *memguard.Budget
	heap             *memguard.HeapMonitor
	heapSet          bool
	highMark         float64
	lowMark          float64
	pressureHold     time.Duration // see WithBackPressureHold
	pressureHoldSet  bool
	holdTimer        func(time.Duration) (<-chan time.Time, func()) // nil: a time.Timer; tests replace it
	onPressure       func(BackPressure)
	shedBelow        log.Severity
	tel              telemetryConfig
	invalid          []error
	lookupEnv        func(string) (string, bool)
}

func (c *config) reject(format string, args ...any) {
	c.invalid = append(c.invalid, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
}

// checkSeverity rejects a severity threshold of option opt outside the
// defined range, and reports whether it was valid.
func (c *config) checkSeverity(opt string, threshold log.Severity) bool {
	if threshold < log.SeverityTrace1 || threshold > log.SeverityFatal4 {
		c.reject("%s(%d): severity must be within [%d, %d]", opt, threshold, log.SeverityTrace1, log.SeverityFatal4)
		return false
	}
	return true
}

// WithMaxQueueSize sets the maximum number of records the queue holds.
// When it is full, the oldest record is evicted (DropQueueFull) to admit
// the newest.
//
// Default: OTEL_BLRP_MAX_QUEUE_SIZE, else what the byte budget holds at
// the smallest size a queued record can have, packed (WithMaxQueueBytes /
// 32 B: 1,048,576 with the default 32 MiB), so that the byte budget is the
// bound that applies.
// This departs from the SDK's 2048, which holds a fraction of a second of
// a busy service's logs and leaves the byte budget idle. A value ≤ 0 makes
// New fail.
func WithMaxQueueSize(n int) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			c.reject("WithMaxQueueSize(%d): must be positive", n)
			return
		}
		c.maxQueueSize = n
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
			c.reject("WithMaxQueueBytes(%d): must be at least %d bytes, the size of the smallest record", n, MinQueueBytes)
			return
		}
		c.maxQueueBytes = n
	})
}

// WithMaxBatchSize sets the maximum number of records in one Export call.
// An export starts as soon as this many records are queued. A value above
// the maximum queue size is clamped to it, and so is one above the number
// of the smallest records (about 620 bytes of slot each) that fit in the
// byte budget, since such a batch could never fill: about 54,000 for the
// default 32 MiB, 1,700 for 1 MiB.
//
// Default: OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, else 512. A value ≤ 0 makes
// New fail.
func WithMaxBatchSize(n int) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			c.reject("WithMaxBatchSize(%d): must be positive", n)
			return
		}
		c.maxBatchSize = n
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
			c.reject("WithExportInterval(%v): must be at least %v", d, MinExportInterval)
			return
		}
		c.exportInterval = d
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
		if d <= 0 {
			c.reject("WithExportTimeout(%v): must be positive", d)
			return
		}
		c.exportTimeout = d
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
		if !c.checkSeverity("WithSeverityEviction", threshold) {
			return
		}
		c.evictBelow = threshold
		c.severityEviction = true
	})
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
		if h == nil {
			c.reject("WithErrorHandler(nil): handler must not be nil")
			return
		}
		c.errorHandler, c.errs.logger = h, nil
	})
}

// newConfig resolves settings option → environment variable → default and
// returns the errors of invalid options.
func newConfig(opts []Option) (config, error) {
	c := config{lookupEnv: os.LookupEnv}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if len(c.invalid) > 0 {
		return c, errors.Join(c.invalid...)
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
	if c.retryInitial == 0 {
		c.retryInitial, c.retryMax = DefaultRetryInitial, DefaultRetryMax
	}
	if c.retryMaxElapsed == 0 {
		c.retryMaxElapsed = DefaultRetryMaxElapsed
	}
	if c.maxQueueBytes == 0 {
		c.maxQueueBytes = c.envBytes(EnvMaxQueueBytes, DefaultMaxQueueBytes)
	}
	if c.maxQueueSize == 0 {
		// 0: the default, which follows the byte budget.
		c.maxQueueSize = int(c.envIntRange(EnvMaxQueueSize, 0, 1, math.MaxInt))
	}
	if c.maxQueueSize == 0 {
		c.maxQueueSize = int(min(c.maxQueueBytes/minPackedBytes, math.MaxInt))
	}
	if c.maxBatchSize == 0 {
		c.maxBatchSize = int(c.envInt(EnvMaxBatchSize, DefaultMaxBatchSize, math.MaxInt))
	}
	if c.exportInterval == 0 {
		c.exportInterval = c.envMillis(EnvExportInterval, DefaultExportInterval)
	}
	if c.exportTimeout == 0 {
		c.exportTimeout = c.envMillis(EnvExportTimeout, DefaultExportTimeout)
	}
	if !c.overflowSet {
		c.overflow = c.envOverflow()
	}
	if !c.heapSet {
		c.heap = defaultHeap()
	}
	if c.highMark == 0 {
		c.highMark, c.lowMark = DefaultHighWatermark, DefaultLowWatermark
	}
	if !c.pressureHoldSet {
		c.pressureHold = DefaultBackPressureHold
	}
	if c.holdTimer == nil {
		c.holdTimer = newHoldTimer
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

// envInt reads a positive integer no larger than limit from the
// environment. An unparsable, non-positive or too large value falls back
// to def and is reported to the error handler: a typo in a deployment
// manifest must be visible, but must not stop the service from logging.
func (c *config) envInt(key string, def, limit int64) int64 {
	return c.envIntRange(key, def, 1, limit)
}

// envIntRange reads an integer in [lo, hi] from the environment, like
// envInt.
func (c *config) envIntRange(key string, def, lo, hi int64) int64 {
	s, ok := c.lookupEnv(key)
	if !ok || s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		deflt := strconv.FormatInt(def, 10)
		if def == 0 {
			deflt = "(what the byte budget holds)"
		}
		c.warn(fmt.Errorf("steadylog/processor: ignoring %s=%q: want an integer from %d to %d; using the default %s",
			key, s, lo, hi, deflt))
		return def
	}
	return v
}

// envBytes reads a byte size (see parseSize: 64MiB, 512KiB, 1GiB, 64Mi,
// plain bytes) of at least MinQueueBytes from the environment, like
// envInt. The message names the variable, the value, what is wrong and
// the default, in the units people write.
func (c *config) envBytes(key string, def int64) int64 {
	s, ok := c.lookupEnv(key)
	if !ok || s == "" {
		return def
	}
	v, err := parseSize(s)
	if err == nil && v < MinQueueBytes {
		err = fmt.Errorf("size %q is %d bytes, below the smallest record (%d bytes)", s, v, MinQueueBytes)
	}
	if err != nil {
		c.warn(fmt.Errorf("steadylog/processor: ignoring %s=%q: %v; want a size such as 64MiB, 512KiB or a plain number of bytes; using the default %s",
			key, s, err, formatSize(def)))
		return def
	}
	return v
}

// envMillis reads a duration in whole milliseconds, from 1 to
// MaxEnvMilliseconds, from the environment, like envInt.
func (c *config) envMillis(key string, def time.Duration) time.Duration {
	s, ok := c.lookupEnv(key)
	if !ok || s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > MaxEnvMilliseconds {
		c.warn(fmt.Errorf("steadylog/processor: ignoring %s=%q: want whole milliseconds from 1 to %d; using the default %d (%v)",
			key, s, MaxEnvMilliseconds, def/time.Millisecond, def))
		return def
	}
	return time.Duration(v) * time.Millisecond
}

// warn reports a configuration problem to the error handler, which is user
// code: a panic in it must not fail New.
func (c *config) warn(err error) { safeHandle(c.errorHandler, err) }
