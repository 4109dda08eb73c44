package processor

import (
	"time"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/segmentlog"
	"github.com/steadylog/steadylog/internal/setting"
)

// Spool defaults.
const (
	// DefaultSpoolSyncInterval is how often the spool fsyncs by default:
	// the durability window of a crash of the machine. A SIGKILL of the
	// process loses nothing the spool has written, which it does about
	// 20 ms after OnEmit (later only while the disk is slower than the
	// records arrive), unless every destination exported the record first.
	DefaultSpoolSyncInterval = time.Second
	// DefaultSpoolMaxBytes bounds the spool's files by default: 256 MiB.
	DefaultSpoolMaxBytes = segmentlog.DefaultMaxBytes
	// DefaultSpoolSegmentSize is the default size of one spool file: 4
	// MiB, which is also about what stays on disk once every record is
	// delivered.
	DefaultSpoolSegmentSize = segmentlog.DefaultSegmentSize
)

// SpoolOption configures the spool of WithSpool. Like an Option, an
// invalid value, or a nil SpoolOption, makes New fail with an error
// wrapping ErrInvalidOption.
type SpoolOption interface {
	applySpool(*spoolConfig)
}

type spoolOptionFunc func(*spoolConfig)

func (f spoolOptionFunc) applySpool(c *spoolConfig) { f(c) }

// spoolConfig is what WithSpool and its options set.
type spoolConfig struct {
	invalid      *setting.Errors // the processor's: see WithSpool
	dir          string
	syncInterval time.Duration
	maxBytes     int64
	maxAge       time.Duration
	segmentSize  int64
	replayRate   int         // records per second per destination; 0: unlimited
	clock        clock.Clock // paces the replay; set by tests only, else the system clock
}

// WithSpool makes the processor keep the records it accepts in a durable
// spool in dir as well as in memory, so that they survive a crash, a
// SIGKILL or a Shutdown whose deadline passed, and are delivered after a
// restart with the same dir — each destination resuming at its own
// position. The package documentation (Spool) states the contract; in
// short:
//
//   - OnEmit never waits for the disk: a spooler goroutine writes records
//     a batch at a time, within 20 ms of OnEmit, and fsyncs every
//     WithSpoolSyncInterval. What it has written survives the process
//     being killed; what it has synced survives a crash of the machine.
//   - The byte budget (WithMaxQueueBytes) bounds memory, not the backlog:
//     when it is full, records already in the spool leave memory without
//     being dropped, and destinations read them back from the spool, one
//     batch at a time, when they catch up.
//   - The spool's files are bounded (WithSpoolMaxBytes, WithSpoolMaxAge):
//     when a bound is reached the oldest records go first, counted as
//     spool_full or spool_age. These bounds, not the retry budget, decide
//     what an outage costs: unless WithRetryMaxElapsed is given, a
//     destination whose budget is spent keeps the records the spool holds
//     queued and keeps retrying until the backend is back; ForceFlush and
//     Shutdown stop waiting for it after one budget, with an error
//     wrapping ErrQueuedInSpool, and Shutdown leaves the records on disk
//     for the next start.
//   - A disk that fails (full, read-only, I/O errors) is reported to the
//     error handler and in Stats.Spool, and the processor goes on from
//     memory as it does without a spool, writing again when the disk
//     allows. That includes a directory that cannot be opened or created
//     at New: the spooler tries again every sync interval, and once it can
//     open it — holding no records of an earlier run, which could not be
//     numbered after the records taken since New and are left for the
//     next start — it writes what memory holds from then on.
//
// dir is created (0700) if missing; its files are 0600 and no symbolic
// link is followed. One processor at a time may use a dir: New fails with
// an error wrapping ErrSpoolLocked while another, in this process or
// another, has it open, until that one's Shutdown. The destinations'
// names (Destination.Name) identify their positions in the spool: a
// destination whose name changed starts again at the oldest record kept.
//
// An empty dir makes New fail.
func WithSpool(dir string, opts ...SpoolOption) Option {
	return optionFunc(func(c *config) {
		if dir == "" {
			c.invalid.Reject("WithSpool(\"\"): the directory must not be empty")
			return
		}
		sc := &spoolConfig{
			invalid:      c.invalid,
			dir:          dir,
			syncInterval: DefaultSpoolSyncInterval,
			maxBytes:     DefaultSpoolMaxBytes,
			segmentSize:  DefaultSpoolSegmentSize,
			clock:        clock.Real(),
		}
		setting.Apply(c.invalid, opts, func(o SpoolOption) { o.applySpool(sc) })
		c.spool = sc
	})
}

// WithSpoolSyncInterval sets how often the spool fsyncs what it wrote: the
// records written since the last sync are what a crash of the machine (a
// power failure, a kernel panic) loses; a crash of the process loses
// nothing written. 0 fsyncs after every write, a batch of records at a
// time, at the cost of an fsync per batch.
//
// Default: DefaultSpoolSyncInterval (1 s). A negative value makes New fail.
func WithSpoolSyncInterval(d time.Duration) SpoolOption {
	return spoolOptionFunc(func(c *spoolConfig) {
		if setting.NonNegative(c.invalid, "WithSpoolSyncInterval", d) {
			c.syncInterval = d
		}
	})
}

// WithSpoolMaxBytes bounds the size of the spool's files. A write that
// would go beyond it first removes the oldest records, delivered or not;
// those some destination had not finished count as its drops with reason
// spool_full. The bound includes the file being written, and is at least
// two segments (WithSpoolSegmentSize).
//
// Default: DefaultSpoolMaxBytes (256 MiB). A value below two segments
// makes New fail.
func WithSpoolMaxBytes(n int64) SpoolOption {
	return spoolOptionFunc(func(c *spoolConfig) {
		if setting.Positive(c.invalid, "WithSpoolMaxBytes", n) {
			c.maxBytes = n
		}
	})
}

// WithSpoolMaxAge removes records older than d from the spool (checked at
// each write and at least once a sync interval); those some destination
// had not finished count as its drops with reason spool_age.
//
// Default: 0, no age limit. A negative value makes New fail.
func WithSpoolMaxAge(d time.Duration) SpoolOption {
	return spoolOptionFunc(func(c *spoolConfig) {
		if setting.NonNegative(c.invalid, "WithSpoolMaxAge", d) {
			c.maxAge = d
		}
	})
}

// WithSpoolSegmentSize sets the size of one spool file. Files are deleted
// whole once every destination has finished their records, so this is
// also about what the spool keeps on disk when nothing is pending; a
// batch of records larger than a file is written in smaller batches.
//
// Default: DefaultSpoolSegmentSize (4 MiB). A value below 4 KiB makes New
// fail.
func WithSpoolSegmentSize(n int64) SpoolOption {
	return spoolOptionFunc(func(c *spoolConfig) {
		if n < segmentlog.MinSegmentSize {
			c.invalid.Reject("WithSpoolSegmentSize(%d): must be at least %d bytes", n, segmentlog.MinSegmentSize)
			return
		}
		c.segmentSize = n
	})
}

// WithSpoolReplayRate limits how fast each destination reads records back
// from the spool — after a restart, or after records it still needed left
// memory during an outage — to about recordsPerSecond, so that replaying
// a long outage's backlog does not starve the application of CPU and
// disk. Reads are paced a batch at a time: a batch of n records is read
// at once, and the next one n/recordsPerSecond seconds later. Records a
// destination reads from memory are not limited, nor is a retry of a
// batch already read. ForceFlush and Shutdown wait for the limit only
// within their context: what a Shutdown does not read by its deadline
// stays in the spool for the next start.
//
// Default: 0, unlimited. A negative value makes New fail.
func WithSpoolReplayRate(recordsPerSecond int) SpoolOption {
	return spoolOptionFunc(func(c *spoolConfig) {
		if setting.NonNegative(c.invalid, "WithSpoolReplayRate", recordsPerSecond) {
			c.replayRate = recordsPerSecond
		}
	})
}
