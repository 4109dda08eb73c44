package segmentlog

import (
	"time"

	"github.com/steadylog/steadylog/internal/setting"
)

// Defaults applied by [Open] to the zero fields of an [Options].
const (
	// DefaultSegmentSize is small so that, once every consumer has
	// acknowledged everything, what stays on disk is one segment of a
	// few MiB: the active segment is never deleted, and files are never
	// preallocated.
	DefaultSegmentSize = 4 << 20
	// DefaultMaxBytes bounds the segments on disk: 64 segments of the
	// default size, about an hour of a 70 KiB/s stream.
	DefaultMaxBytes = 256 << 20
)

// MinSegmentSize is the smallest valid Options.SegmentSize.
const MinSegmentSize = 4 << 10

// Options configure a [Log]. The zero value of a field means its default.
type Options struct {
	// Consumers names the readers that acknowledge records with Ack: at
	// least one, each non-empty, at most 255 bytes, no duplicates. A
	// consumer the ledger does not know yet starts at the oldest live
	// record (one that some consumer had not acknowledged).
	Consumers []string
	// SegmentSize is the size above which the active segment is sealed
	// and a new one started (default DefaultSegmentSize, at least
	// MinSegmentSize). It also bounds a payload: see Log.MaxPayload.
	SegmentSize int64
	// MaxBytes bounds the bytes of all segments (default DefaultMaxBytes,
	// at least 2×SegmentSize). An Append that would exceed it first
	// removes the oldest segments, acknowledged or not, and reports them.
	// The ledger and the lock file are not counted.
	MaxBytes int64
	// MaxAge, if positive, removes records older than it (by their append
	// time) at each Append and at Open, and reports them. Zero keeps
	// records until they are acknowledged or MaxBytes removes them.
	MaxAge time.Duration
	// Now is the clock that stamps records (default time.Now).
	Now func() time.Time
}

// config is Options with the defaults applied.
type config struct {
	consumers   []string
	segmentSize int64
	maxBytes    int64
	maxAge      time.Duration
	now         func() time.Time
}

func (o Options) resolve() (config, error) {
	errs := setting.NewErrors(ErrInvalidOptions)
	c := config{
		segmentSize: o.SegmentSize,
		maxBytes:    o.MaxBytes,
		maxAge:      o.MaxAge,
		now:         o.Now,
	}
	if c.segmentSize == 0 {
		c.segmentSize = DefaultSegmentSize
	}
	if c.maxBytes == 0 {
		c.maxBytes = max(DefaultMaxBytes, 2*c.segmentSize)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.segmentSize < MinSegmentSize || c.segmentSize > maxFramePayload {
		errs.Reject("SegmentSize(%d): must be within [%d, %d]", c.segmentSize, MinSegmentSize, int64(maxFramePayload))
	}
	if c.maxBytes < 2*c.segmentSize {
		errs.Reject("MaxBytes(%d): must be at least 2×SegmentSize (%d)", c.maxBytes, 2*c.segmentSize)
	}
	setting.NonNegative(errs, "MaxAge", c.maxAge)
	if len(o.Consumers) == 0 {
		errs.Reject("Consumers: at least one consumer is required")
	}
	seen := make(map[string]bool, len(o.Consumers))
	for _, name := range o.Consumers {
		switch {
		case name == "" || len(name) > maxConsumerName:
			errs.Reject("Consumers(%q): a name must have 1 to %d bytes", name, maxConsumerName)
		case seen[name]:
			errs.Reject("Consumers(%q): duplicate name", name)
		}
		seen[name] = true
		c.consumers = append(c.consumers, name)
	}
	return c, errs.Err()
}
