package segmentlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

const lockName = "LOCK"

// Log is a durable FIFO of byte payloads in a directory of segment files.
// Records are numbered consecutively; each consumer named in
// Options.Consumers acknowledges a position, and a segment file is deleted
// once every consumer has acknowledged all of its records (or the bounds
// removed them).
//
// A Log is safe for concurrent use. The intended use is one goroutine that
// appends and syncs, and one goroutine per consumer with its own [Cursor]
// that reads and acknowledges. Every method holds the Log's mutex only for
// bookkeeping and for an Append's write, which goes to the page cache:
// cursors read and Sync fsyncs without it. Append, Sync and Close exclude
// one another.
type Log struct {
	dir  string
	cfg  config
	dirf *os.File // the directory, for fsync
	lock *os.File // holds the flock

	// wmu serialises the writer's calls (Append, Sync, Close), so that
	// Sync can fsync without mu, while no segment is written.
	wmu sync.Mutex

	mu     sync.Mutex // guards what follows
	closed bool
	segs   []*segment // oldest first
	active *segment   // the one Append writes to; nil until the next Append creates one
	first  uint64     // the oldest live record; those below were acknowledged by all or removed
	next   uint64     // the sequence number of the next record
	acks   []uint64   // per consumer, in cfg.consumers order
	bytes  int64      // of all segments

	// Changes that Sync makes durable, counted so that a Sync knows
	// whether more happened while it was writing without the mutex.
	dirChanges, dirSynced       uint64 // segment files created or deleted
	ledgerChanges, ledgerSynced uint64 // first or acks changed
	ledgerNext                  uint64 // next as the ledger on disk has it
	damagedReads                uint64 // records a cursor found damaged after Open
	meta                        []byte // the caller's, written with the ledger
	scratch                     []byte // frames of one Append, reused
}

// Open opens the log in dir, creating the directory (0700) if it is
// missing, locks it, and recovers what the segment files hold (see
// [Recovery]). It returns ErrLocked if another Log has dir open,
// ErrSymlink if dir or a file in it is a symbolic link, an error wrapping
// ErrInvalidOptions for invalid opts, and an error wrapping the operating
// system's if dir cannot be read or written. Open does not panic on a
// damaged directory: what does not decode is skipped and counted.
func Open(dir string, opts Options) (*Log, Recovery, error) {
	if !supported {
		return nil, Recovery{}, ErrUnsupported
	}
	cfg, err := opts.resolve()
	if err != nil {
		return nil, Recovery{}, err
	}
	dir = filepath.Clean(dir)
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			fi, err = os.Lstat(dir)
		}
	}
	if err != nil {
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: opening %s: %w", dir, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, Recovery{}, fmt.Errorf("%w: directory %s", ErrSymlink, dir)
	}
	if !fi.IsDir() {
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: %s is not a directory", dir)
	}
	dirf, err := openNoFollow(dir, os.O_RDONLY, 0)
	if err != nil {
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: opening %s: %w", dir, err)
	}
	lockf, err := openNoFollow(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		if err = lockFile(lockf); err != nil {
			lockf.Close()
		}
	}
	if err != nil {
		dirf.Close()
		if errors.Is(err, ErrLocked) || errors.Is(err, ErrSymlink) {
			return nil, Recovery{}, fmt.Errorf("%w: %s", err, dir)
		}
		return nil, Recovery{}, fmt.Errorf("steadylog/segmentlog: locking %s: %w", dir, err)
	}
	l := &Log{dir: dir, cfg: cfg, dirf: dirf, lock: lockf, acks: make([]uint64, len(cfg.consumers))}
	rec, err := l.recover()
	if err != nil {
		l.release()
		return nil, Recovery{}, err
	}
	return l, rec, nil
}
