package processor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/log"
)

// Defaults. The count, batch, interval and timeout defaults are those of
// the OpenTelemetry specification's batch log record processor, so
// steadylog is a drop-in replacement for the SDK's BatchProcessor.
const (
	// DefaultMaxQueueSize is the default maximum number of queued records.
	DefaultMaxQueueSize = 2048
	// DefaultMaxQueueBytes is the default byte budget of the queue: 32 MiB.
	//
	// A typical record (a short message and a handful of attributes)
	// retains about 1 KiB, so for ordinary traffic the count bound of 2048
	// records (~2 MiB) is reached long before the byte bound. The byte
	// bound exists for the unusual record — a stack trace, a request body,
	// a 1 MiB blob — where a count bound alone lets 2048 records pin
	// gigabytes. 32 MiB keeps the worst case well below the memory limits
	// of a small container (128–256 MiB) while still holding 2048 records
	// averaging 16 KiB each.
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
// defines them.
const (
	EnvMaxQueueSize   = "OTEL_BLRP_MAX_QUEUE_SIZE"
	EnvMaxBatchSize   = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"
	EnvExportInterval = "OTEL_BLRP_SCHEDULE_DELAY"
	EnvExportTimeout  = "OTEL_BLRP_EXPORT_TIMEOUT"
	EnvMaxQueueBytes  = "STEADYLOG_BLRP_MAX_QUEUE_BYTES" // not in the specification: bytes, an integer
)

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
	retryInitial     time.Duration
	retryMax         time.Duration
	noRetry          bool
	retryMaxElapsed  time.Duration
	tel              telemetryConfig
	invalid          []error
	lookupEnv        func(string) (string, bool)
}

func (c *config) reject(format string, args ...any) {
	c.invalid = append(c.invalid, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
}

// WithMaxQueueSize sets the maximum number of records the queue holds.
// When it is full, the oldest record is evicted (DropQueueFull) to admit
// the newest.
//
// Default: OTEL_BLRP_MAX_QUEUE_SIZE, else 2048. A value ≤ 0 makes New fail.
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
// Default: STEADYLOG_BLRP_MAX_QUEUE_BYTES, else 32 MiB. A value ≤ 0 makes
// New fail.
func WithMaxQueueBytes(n int64) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			c.reject("WithMaxQueueBytes(%d): must be positive", n)
			return
		}
		c.maxQueueBytes = n
	})
}

// WithMaxBatchSize sets the maximum number of records in one Export call.
// An export starts as soon as this many records are queued. A value above
// the maximum queue size is clamped to it.
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
// Default: OTEL_BLRP_SCHEDULE_DELAY (milliseconds), else 1s. A value ≤ 0
// makes New fail.
func WithExportInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.reject("WithExportInterval(%v): must be positive", d)
			return
		}
		c.exportInterval = d
	})
}

// WithExportTimeout sets how long one Export call may take. The exporter
// receives a context with this deadline.
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
		if threshold < log.SeverityTrace1 || threshold > log.SeverityFatal4 {
			c.reject("WithSeverityEviction(%d): severity must be within [%d, %d]",
				threshold, log.SeverityTrace1, log.SeverityFatal4)
			return
		}
		c.evictBelow = threshold
		c.severityEviction = true
	})
}

// WithErrorHandler sets the function that receives export errors and
// configuration warnings (such as an unparsable environment variable). It
// is called from the processor's worker goroutine or from New, never from
// OnEmit, and must not block for long.
//
// Default: otel.Handle (the global OpenTelemetry error handler).
func WithErrorHandler(h func(error)) Option {
	return optionFunc(func(c *config) {
		if h == nil {
			c.reject("WithErrorHandler(nil): handler must not be nil")
			return
		}
		c.errorHandler = h
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
	if c.errorHandler == nil {
		c.errorHandler = otel.Handle
	}
	if c.retryInitial == 0 {
		c.retryInitial, c.retryMax = DefaultRetryInitial, DefaultRetryMax
	}
	if c.retryMaxElapsed == 0 {
		c.retryMaxElapsed = DefaultRetryMaxElapsed
	}
	if c.maxQueueSize == 0 {
		c.maxQueueSize = c.envInt(EnvMaxQueueSize, DefaultMaxQueueSize)
	}
	if c.maxQueueBytes == 0 {
		c.maxQueueBytes = int64(c.envInt(EnvMaxQueueBytes, int(DefaultMaxQueueBytes)))
	}
	if c.maxBatchSize == 0 {
		c.maxBatchSize = c.envInt(EnvMaxBatchSize, DefaultMaxBatchSize)
	}
	if c.exportInterval == 0 {
		c.exportInterval = time.Duration(c.envInt(EnvExportInterval, int(DefaultExportInterval/time.Millisecond))) * time.Millisecond
	}
	if c.exportTimeout == 0 {
		c.exportTimeout = time.Duration(c.envInt(EnvExportTimeout, int(DefaultExportTimeout/time.Millisecond))) * time.Millisecond
	}
	// A batch can never be larger than the queue that feeds it; the
	// specification asks for the same clamp.
	if c.maxBatchSize > c.maxQueueSize {
		c.maxBatchSize = c.maxQueueSize
	}
	return c, nil
}

// envInt reads a positive integer from the environment. An unparsable or
// non-positive value falls back to def and is reported to the error
// handler: a typo in a deployment manifest must be visible, but must not
// stop the service from logging.
func (c *config) envInt(key string, def int) int {
	s, ok := c.lookupEnv(key)
	if !ok || s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		c.errorHandler(fmt.Errorf("steadylog/processor: ignoring %s=%q: want a positive integer; using the default %d", key, s, def))
		return def
	}
	return v
}
