package processor

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// The durable spool (WithSpool): how the processor wires the segment log
// (internal/segmentlog) and the batch codec (internal/recordcodec) beneath
// its store. See DESIGN.md, "Spool".
//
// Positions. Records keep the store's sequence numbers, which continue
// across restarts; a destination's position (destination.next) stays one.
// Three more positions, all record sequence numbers, say where records
// are:
//
//	released ≤ … memFrom ≤ … next ≤ … store.nextSeq
//
//   - next: every record below it is in the spool, or needs not be (every
//     destination has finished it). The spooler advances it.
//   - memFrom: the records below it that are not finished are in the spool
//     only ("spilled"); memory holds the live records from it on. Spilling
//     advances it, never beyond next.
//   - released: every record below it is accounted for store-wide.
//
// A destination whose position is below memFrom reads from the spool, a
// payload at a time, until it reaches memFrom; from there it reads memory.

// ErrSpoolLocked is wrapped by the error New returns when another
// processor, in this process or another, has the spool's directory open.
var ErrSpoolLocked = errors.New("steadylog/processor: spool directory is in use by another processor")

// spoolCoalesce is how long the spooler lets records gather before it
// writes them, so that a payload is a batch, not one record: the delay
// between OnEmit and the record surviving a SIGKILL.
const spoolCoalesce = 20 * time.Millisecond

// spoolPieceBytes bounds the records (by their size in memory) the
// spooler takes for one payload: between two payloads it skips what every
// destination finished meanwhile, which a healthy export worker does to a
// whole chunk of large records while the spooler writes it. Small records
// still fill a chunk's payload: a chunk holds 512 by default.
const spoolPieceBytes = 256 << 10

// spooler is the spool's state. Fields marked "p.mu" are guarded by the
// processor's mutex; fields marked "spooler" are owned by the spooler
// goroutine (spooler.run).
type spooler struct {
	p    *Processor
	cfg  spoolConfig
	log  *segmentlog.Log        // nil until Open succeeds: memory only (see openLater)
	tmpl *recordcodec.Templates // shared by every decode (safe for concurrent use)

	// on is set once log is: the spool is in use. Whoever reads log
	// outside the spooler loads on first; it is set under p.mu too, so
	// what holds p.mu may read either.
	on     atomic.Bool
	closed atomic.Bool // the log is closed (Shutdown)

	// p.mu
	next, memFrom, released uint64
	// blockedBelow: the records below it are not in the spool (the bounds
	// removed them, or they could not be encoded) although memory may
	// still hold them: spilling waits until memory no longer holds any.
	blockedBelow uint64
	undecided    int    // spilled records whose store-wide outcome is open
	lost         seqSet // spilled records counted as dropped store-wide
	dead         seqSet // records in the spool that no destination may export any more
	orphans      seqSet // spilled records removed from the spool while being exported: off the index
	index        []spoolPayload
	onDisk       uint64 // records in index
	nextLsn      uint64 // the log position the next payload gets
	awake        bool   // a wake-up is on its way to the spooler
	hurried      bool   // so is a hurry
	busy         bool   // the spooler is writing records without p.mu
	degraded     bool
	lastErr      error
	errs         uint64
	recovered    uint64
	resent       uint64
	damaged      uint64           // records found lost at Open
	inexact      bool             // damaged: some were counted as one per payload (the first format)
	removedAtNew uint64           // records the bounds removed at Open: received and dropped
	damagedRead  uint64           // records of payloads found damaged when read back
	readDamaged  seqSet           // the log positions of those payloads
	left         uint64           // set by close: the store-wide records left for the next start
	startReport  error            // what New reports about opening the spool, if anything
	final        segmentlog.Stats // the log's last snapshot, taken by close

	wake  chan struct{} // records to write
	hurry chan struct{} // write now: memory is half full
	quit  chan struct{} // closed by Shutdown: write what memory holds, sync, end
	done  chan struct{}

	// spooler (and recover, before it starts)
	written uint64 // the running count of records written to the spool (spoolcount.go)
	seqs    []uint64
	buf     []byte
	scratch []sdklog.Record
	idx     []int32
	retryAt time.Time // while degraded: no write before this
}

// openSpool opens the spool of cfg for p and rebuilds its index from what
// the files hold. It returns an error for an invalid configuration and a
// locked or symlinked directory; any other failure to open leaves p
// working from memory, reported and in Stats.Spool, and the spooler tries
// again every sync interval (openLater).
func openSpool(p *Processor, cfg spoolConfig) (*spooler, error) {
	sp := &spooler{
		p:     p,
		cfg:   cfg,
		tmpl:  recordcodec.NewTemplates(recordcodec.DefaultTemplates),
		wake:  make(chan struct{}, 1),
		hurry: make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	l, rec, err := sp.open()
	switch {
	case errors.Is(err, segmentlog.ErrLocked):
		return nil, fmt.Errorf("%w: %s: %w", ErrSpoolLocked, cfg.dir, err)
	case errors.Is(err, segmentlog.ErrInvalidOptions):
		return nil, fmt.Errorf("%w: WithSpool: %w", ErrInvalidOption, err)
	case errors.Is(err, segmentlog.ErrSymlink), errors.Is(err, segmentlog.ErrUnsupported):
		return nil, fmt.Errorf("steadylog/processor: spool %s: %w", cfg.dir, err)
	case err != nil:
		// A disk that is full, read-only or failing must not stop the
		// service from logging: work from memory, say so, and try
		// again.
		sp.failLocked(fmt.Errorf("steadylog/processor: spool %s could not be opened; working from memory, trying again every sync interval: %w", cfg.dir, err))
		sp.startReport = sp.lastErr
		return sp, nil
	}
	sp.log = l
	sp.on.Store(true)
	if err := sp.recover(rec); err != nil {
		_ = l.Close()
		return nil, err
	}
	sp.startReport = recoveryReport(cfg.dir, rec, sp.damaged, sp.inexact, sp.removedAtNew)
	// The counts at both ends of the ledger describe this start from now
	// on, before the first Append: a crash before the first sync must not
	// find the last start's counts beside this start's payloads.
	sp.syncMeta()
	return sp, nil
}

// open opens the spool's segment log, one consumer per destination.
func (sp *spooler) open() (*segmentlog.Log, segmentlog.Recovery, error) {
	names := make([]string, len(sp.p.dests))
	for i, d := range sp.p.dests {
		names[i] = d.name
	}
	return segmentlog.Open(sp.cfg.dir, segmentlog.Options{
		Consumers:   names,
		SegmentSize: sp.cfg.segmentSize,
		MaxBytes:    sp.cfg.maxBytes,
		MaxAge:      sp.cfg.maxAge,
	})
}

// retryPeriod is how often the spooler retries what failed: opening the
// spool, a write, a sync; it is also when it applies the age bound.
func (sp *spooler) retryPeriod() time.Duration {
	if sp.cfg.syncInterval == 0 {
		return time.Second
	}
	return sp.cfg.syncInterval
}

// openLater is the spooler's life while the spool is not open (Open
// failed at New): it tries to open it every sync interval until it does
// (true), until Shutdown, or until it gives up (false). Spooler only.
func (sp *spooler) openLater() bool {
	tick := time.NewTicker(sp.retryPeriod())
	defer tick.Stop()
	for {
		select {
		case <-sp.quit:
			return false
		case <-tick.C:
		}
		if opened, final := sp.openLate(); opened || final {
			return opened
		}
	}
}

// openLate tries to open the spool after New. It reports whether it
// opened it, and whether it gave up (final).
//
// A late open takes only a directory that holds no record a destination
// still needs (empty, new, or every record acknowledged). Such a spool
// takes the processor as it is: every record below the position of the
// destination furthest behind is finished, those from it on are in
// memory, so the positions all start there, and the spooler writes what
// memory holds as it does after a failed write — the state of a spool
// opened empty at New whose writes failed until now. Records found on
// disk could not be delivered consistently: they carry sequence numbers
// of an earlier run, which the store has given again to the records it
// took since New, and Received and each destination's position would
// have to count records older than the ones already counted. So a
// directory that holds some is closed again, untouched, for the next
// start, and the processor stays in memory until restart, reported. So
// do the errors that make New fail (another processor locked the
// directory meanwhile, a symbolic link): retrying would not change them.
// Any other error is retried at the next sync interval, counted in
// Stats.Spool.Errors but reported only with the episode's first.
func (sp *spooler) openLate() (opened, final bool) {
	p := sp.p
	l, rec, err := sp.open()
	var batches uint64 // payloads a destination still needs
	if err == nil {
		if batches = l.Stats().Records; batches > 0 {
			err = l.Close()
		}
	}
	var report error
	p.mu.Lock()
	switch {
	case err == nil && batches > 0:
		sp.errs++
		sp.lastErr = fmt.Errorf("steadylog/processor: spool %s could be opened only after New, and holds %d batches of records of an earlier run: they are left there for the next start; working from memory only until restart", sp.cfg.dir, batches)
		report, final = sp.lastErr, true
	case errors.Is(err, segmentlog.ErrLocked), errors.Is(err, segmentlog.ErrSymlink),
		errors.Is(err, segmentlog.ErrUnsupported), errors.Is(err, segmentlog.ErrInvalidOptions):
		sp.errs++
		sp.lastErr = fmt.Errorf("steadylog/processor: spool %s cannot be used; working from memory only until restart: %w", sp.cfg.dir, err)
		report, final = sp.lastErr, true
	case err != nil:
		sp.failLocked(fmt.Errorf("steadylog/processor: spool %s could not be opened; working from memory, trying again every sync interval: %w", sp.cfg.dir, err))
	default:
		upTo := p.st.nextSeq
		for _, d := range p.dests {
			upTo = min(upTo, d.next)
		}
		sp.next, sp.memFrom, sp.blockedBelow, sp.released = upTo, upTo, upTo, upTo
		sp.nextLsn = l.Stats().Next
		// The running count goes on from the earlier run's, so that a
		// crash before the first Sync cannot count its payloads as lost.
		if m, ok := decodeSpoolMeta(rec.Meta); ok {
			sp.written = m.synced
		}
		// Payloads lost to damage held no record a destination still
		// needed, as far as the ledger knows: counted, as a lower bound.
		sp.damaged += rec.Damaged
		sp.inexact = sp.inexact || rec.Damaged > 0
		sp.log = l
		sp.on.Store(true)
		sp.degraded = false
		report = fmt.Errorf("steadylog/processor: spool %s opened; spooling again after %d errors (last: %w)", sp.cfg.dir, sp.errs, sp.lastErr)
		opened = true
	}
	p.mu.Unlock()
	if report != nil {
		safeHandle(p.cfg.errorHandler, report)
	}
	if opened {
		if r := recoveryReport(sp.cfg.dir, rec, rec.Damaged, rec.Damaged > 0, 0); r != nil {
			safeHandle(p.cfg.errorHandler, r)
		}
	}
	return opened, final
}

// recoveryReport describes what Open found wrong in the spool's files, or
// returns nil when nothing was: New reports it to the error handler (the
// records that survived are delivered; Stats.Spool counts the damaged).
func recoveryReport(dir string, rec segmentlog.Recovery, damaged uint64, inexact bool, removed uint64) error {
	if damaged == 0 && rec.DiscardedBytes == 0 && rec.TruncatedBytes == 0 && !rec.LedgerLost && removed == 0 {
		return nil
	}
	atLeast := ""
	if inexact {
		atLeast = "at least " // next to payloads of the first format, a lost batch counts as one record
	}
	return fmt.Errorf("steadylog/processor: spool %s recovered with damage: %s%d records lost, %d bytes skipped, %d bytes of a torn write cut, %d records removed by the spool's bounds (counted as dropped), positions lost: %t",
		dir, atLeast, damaged, rec.DiscardedBytes, rec.TruncatedBytes, removed, rec.LedgerLost)
}

// recover rebuilds the index from the oldest acknowledged position, and
// sets the store's and the destinations' positions and counts: every
// record found counts as received, once, and as recovered by each
// destination that had not acknowledged it.
func (sp *spooler) recover(rec segmentlog.Recovery) error {
	p := sp.p
	acked := make([]uint64, len(p.dests))
	from := uint64(1<<64 - 1)
	for i, d := range p.dests {
		a, err := sp.log.Acked(d.name)
		if err != nil {
			return fmt.Errorf("steadylog/processor: spool %s: %w", sp.cfg.dir, err)
		}
		acked[i] = a
		from = min(from, a)
	}
	// The index needs the payloads' headers only: Heads reads their first
	// bytes, not the records, which Open has just read and checked. A
	// header longer than that is read whole.
	dc := newDamageCount(rec, from)
	var seqs []uint64
	var readErr error
	err := sp.log.Heads(from, spoolHeadBytes, func(lsn uint64, head []byte) bool {
		h, _, err := parsePayloadHeader(head, seqs)
		seqs = h.seqs
		if err != nil && len(head) == spoolHeadBytes {
			var whole []byte
			if whole, readErr = sp.readPayload(lsn); readErr != nil {
				return false
			}
			if whole == nil {
				return true // damaged since Open: counted by the payloads around it
			}
			h, _, err = parsePayloadHeader(whole, seqs)
			seqs = h.seqs
		}
		switch n := len(sp.index); {
		case err != nil:
			// counted by the payloads around it
		case n > 0 && seqs[0] < sp.index[n-1].end:
			// out of order: not a payload this spool wrote
		default:
			dc.payload(lsn, h)
			sp.index = append(sp.index, newSpoolPayload(lsn, h))
			sp.onDisk += uint64(len(seqs))
		}
		return true
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		return fmt.Errorf("steadylog/processor: spool %s: reading it back: %w", sp.cfg.dir, err)
	}
	sp.nextLsn = sp.log.Stats().Next
	sp.written = dc.tail(sp.nextLsn)
	sp.damaged, sp.inexact = dc.total(), dc.batches > 0
	// What the bounds removed at Open was received by an earlier start:
	// it counts as received and dropped, store-wide and for each
	// destination that had not acknowledged it.
	removed, reason := dc.removed()
	sp.removedAtNew = removed
	p.acct.dropped[reason] += removed
	for _, d := range p.dests {
		d.removedAtNew = dc.removedFor(d.name)
		d.dropped[reason] += d.removedAtNew
	}
	var start uint64
	if n := len(sp.index); n > 0 {
		start = sp.index[n-1].end
	}
	p.st.nextSeq, p.startSeq = start, start
	sp.next, sp.memFrom, sp.blockedBelow = start, start, start
	sp.recovered = sp.onDisk
	sp.undecided = int(sp.onDisk)
	p.received = sp.onDisk + removed
	firsts := map[uint64]int{} // the payloads a destination may have been handed before
	released := start
	for i, d := range p.dests {
		d.next = start
		for _, e := range sp.index {
			if e.lsn >= acked[i] {
				d.next = e.first
				break
			}
		}
		for k := range sp.index {
			e := &sp.index[k]
			if e.lsn < acked[i] {
				continue
			}
			d.recovered += uint64(e.n)
			if rec.LedgerLost || e.lsn == acked[i] {
				firsts[e.lsn] = e.n
			}
		}
		d.pending = int(d.recovered)
		released = min(released, d.next)
	}
	for _, n := range firsts {
		sp.resent += uint64(n)
	}
	sp.released = released
	return nil
}

// spoolHeadBytes is how much of each payload New reads to rebuild the
// index: the header of a payload of 2,000 consecutive records.
const spoolHeadBytes = 2 << 10

// readPayload returns the payload at log position lsn, or nil if it is
// damaged or gone.
func (sp *spooler) readPayload(lsn uint64) ([]byte, error) {
	cur := sp.log.NewCursor(lsn)
	defer cur.Close()
	recs, err := cur.Next(1, 0)
	if err != nil || len(recs) == 0 || recs[0].Seq != lsn {
		return nil, err
	}
	return recs[0].Payload, nil
}

// failLocked records a failure of the spool's disk: the first of an
// episode is reported to the error handler. p.mu must be held or p not
// yet shared.
func (sp *spooler) failLocked(err error) (report bool) {
	sp.errs++
	sp.lastErr = err
	if sp.degraded {
		return false
	}
	sp.degraded = true
	return true
}

// on returns the processor's spool when it is writing to disk, or nil.
func (p *Processor) spoolOn() *spooler {
	if sp := p.sp; sp != nil && sp.on.Load() {
		return sp
	}
	return nil
}

// emittedLocked wakes the spooler for a record just pushed: it writes
// after spoolCoalesce, or at once when memory is half full (it must be
// able to spill). Records every destination exports within the delay are
// never written: a healthy pipeline writes little. It never waits. p.mu
// must be held.
func (sp *spooler) emittedLocked() {
	if !sp.awake {
		sp.awake = true
		select {
		case sp.wake <- struct{}{}:
		default:
		}
	}
	if !sp.hurried && sp.urgentLocked() {
		sp.hurried = true
		select {
		case sp.hurry <- struct{}{}:
		default:
		}
	}
}

// urgentLocked reports whether memory holds half the byte budget or
// more: then records must be written at once, for admission spills only
// written records. p.mu must be held.
func (sp *spooler) urgentLocked() bool {
	return sp.p.st.heldBytes >= sp.p.cfg.maxQueueBytes/2
}

// run is the spooler goroutine: it writes the records memory holds that
// the spool does not, a chunk at a time, syncs every sync interval, and
// at Shutdown writes what is left and syncs before it ends.
func (sp *spooler) run() {
	defer close(sp.done)
	if !sp.on.Load() {
		if !sp.openLater() {
			return
		}
		sp.writeAll(true) // what memory holds
		sp.sync()
	}
	tick := time.NewTicker(sp.retryPeriod())
	defer tick.Stop()
	coalesce := time.NewTimer(time.Hour)
	coalesce.Stop()
	defer coalesce.Stop()
	for {
		select {
		case <-sp.wake:
			coalesce.Reset(spoolCoalesce)
		wait:
			for {
				select {
				case <-coalesce.C:
					break wait
				case <-sp.hurry:
					sp.writeUrgent()
				case <-sp.quit:
					break wait
				}
			}
			sp.writeAll(false)
			if sp.cfg.syncInterval == 0 {
				sp.sync()
			}
		case <-sp.hurry:
			sp.writeUrgent()
			if sp.cfg.syncInterval == 0 {
				sp.sync()
			}
		case <-tick.C:
			sp.writeAll(true)
			sp.sync()
		case <-sp.quit:
			sp.writeAll(true)
			sp.sync()
			return
		}
	}
}

// writeAll writes what memory holds that the spool does not, until
// nothing is left or a write fails. While degraded it tries again once a
// sync interval (or when retry is true).
func (sp *spooler) writeAll(retry bool) {
	if !retry && sp.backingOff() {
		return
	}
	for sp.writeOne(false) {
	}
	if sp.cfg.maxAge > 0 {
		// An Append with no payloads applies the age bound only.
		// Its error, if any, is the disk's, which the writes report.
		_, removed, _ := sp.log.Append()
		sp.p.mu.Lock()
		sp.removedLocked(removed)
		sp.p.releaseStoreLocked()
		sp.p.mu.Unlock()
	}
}

// backingOff reports whether a failed write is waiting for its retry
// (the spool is degraded, and the next attempt is not due yet).
func (sp *spooler) backingOff() bool {
	return !sp.retryAt.IsZero() && time.Now().Before(sp.retryAt)
}

// writeUrgent writes what spilling needs while memory holds half the
// budget or more, and stops once it holds less: the records OnEmit has
// just accepted wait for the coalescing delay as before, for a healthy
// export worker finishes most of them first. Writing everything at once,
// as the delay does, made the spooler write, a record at a time, the
// records the worker was exporting (see DESIGN.md, "Spool", Measured).
func (sp *spooler) writeUrgent() {
	if sp.backingOff() {
		return
	}
	for sp.writeOne(true) {
	}
}

// writeOne writes the unwritten records of one chunk, up to
// spoolPieceBytes of them, as one payload (or fewer, when they do not fit
// a segment). With urgent it writes only while memory holds half the
// budget or more. It reports whether it wrote something and more may be
// left.
func (sp *spooler) writeOne(urgent bool) bool {
	p := sp.p
	p.mu.Lock()
	sp.hurried = false
	if urgent && !sp.urgentLocked() {
		p.mu.Unlock()
		return false
	}
	if !urgent {
		sp.awake = false
	}
	p.advanceSpoolLocked()
	c, from := p.st.locate(sp.next)
	if c == nil {
		sp.next = p.st.nextSeq
		p.mu.Unlock()
		return false
	}
	to := c.tail
	sp.seqs = sp.seqs[:0]
	sp.idx = sp.idx[:0]
	gaps := false
	var bytes int64
	for i := from; i < to; i++ {
		if c.meta[i].state == slotLive {
			if bytes += c.meta[i].size; bytes > spoolPieceBytes && len(sp.seqs) > 0 {
				to = i
				break
			}
			sp.seqs = append(sp.seqs, c.base+uint64(i))
			sp.idx = append(sp.idx, int32(i))
		} else {
			gaps = true
		}
	}
	// Nothing evicts, packs or clears these slots until the write is
	// accounted for (store.spooling); a packed chunk's bytes never change.
	p.st.spoolC, p.st.spoolFrom, p.st.spoolTo = c, from, to
	c.spooling = true
	sp.busy = true
	packed := c.packed
	recs := c.recs
	p.mu.Unlock()

	// A packed chunk's records are encoded already: the payload is put
	// together from their bytes, without decoding them (see DESIGN.md,
	// "Spool", Measured).
	var pk packedRecords
	var batch []sdklog.Record
	var err error
	switch {
	case packed:
		pk = packedRecords{c: c, idx: sp.idx}
	case gaps:
		sp.scratch = sp.scratch[:0]
		for _, i := range sp.idx {
			sp.scratch = append(sp.scratch, recs[i])
		}
		batch = sp.scratch
	default:
		batch = recs[from:to]
	}
	seqs := sp.seqs
	var payload []byte
	var wrote int
	if packed {
		payload, wrote = sp.encode(seqs, pk.appendBatch, nil)
	} else {
		payload, wrote = sp.encode(seqs, func(dst []byte, n int) ([]byte, error) {
			return recordcodec.AppendBatch(dst, batch[:n])
		}, func(k int) bool {
			_, err := recordcodec.Append(nil, &batch[k])
			return err == nil
		})
	}
	var lsn uint64
	var removed []segmentlog.Removal
	if payload != nil {
		lsn, removed, err = sp.log.Append(payload)
	}
	clear(sp.scratch) // the copies must not keep records alive
	sp.scratch = sp.scratch[:0]

	p.mu.Lock()
	p.st.endSpooling(c)
	sp.busy = false
	sp.removedLocked(removed)
	var report error
	switch {
	case payload == nil:
		// The first record cannot be written: memory keeps it, and
		// spilling waits for it to leave.
		sp.blockedBelow = max(sp.blockedBelow, seqs[0]+1)
		sp.next = max(sp.next, seqs[0]+1)
	case err != nil:
		if sp.failLocked(fmt.Errorf("steadylog/processor: spool %s: writing failed; working from memory until it succeeds: %w", sp.cfg.dir, err)) {
			report = sp.lastErr
		}
	default:
		if seqs[wrote-1] >= sp.released {
			// Else every destination finished them while they were
			// written: their acknowledgements cover the payload.
			sp.index = append(sp.index, newSpoolPayload(lsn, payloadHeader{seqs: seqs[:wrote], before: sp.written, counted: true}))
			sp.onDisk += uint64(wrote)
		}
		sp.written += uint64(wrote)
		sp.nextLsn = lsn + 1
		sp.next = max(sp.next, seqs[wrote-1]+1)
		if sp.degraded {
			sp.degraded = false
			report = fmt.Errorf("steadylog/processor: spool %s: writing again after %d errors (last: %w)", sp.cfg.dir, sp.errs, sp.lastErr)
		}
	}
	p.releaseStoreLocked() // what the destinations finished meanwhile
	p.mu.Unlock()
	if report != nil {
		safeHandle(p.cfg.errorHandler, report)
	}
	if err != nil {
		sp.retryAt = time.Now().Add(max(sp.cfg.syncInterval, spoolCoalesce))
		return false
	}
	sp.retryAt = time.Time{}
	return true
}

// encode returns the payload of the longest prefix of the records
// numbered seqs that encodes and fits a segment, and its length:
// appendBatch appends the first n records as one batch, and encodable
// reports whether record k encodes on its own (nil: every record does).
// A record that cannot be encoded (recordcodec.ErrUnsupported) ends the
// prefix; a nil payload means that the first record cannot be written
// (it cannot be encoded, or alone does not fit a segment), which is
// reported.
func (sp *spooler) encode(seqs []uint64, appendBatch func(dst []byte, n int) ([]byte, error), encodable func(k int) bool) ([]byte, int) {
	limit := sp.log.MaxPayload()
	n := len(seqs)
	for {
		buf := appendPayloadHeader(sp.buf[:0], sp.written, seqs[:n])
		buf, err := appendBatch(buf, n)
		sp.buf = buf
		switch {
		case err == nil && len(buf) <= limit:
			return buf, n
		case err != nil:
			k := n
			if encodable != nil {
				k = 0
				for k < n && encodable(k) {
					k++
				}
			}
			if k > 0 && k < n {
				n = k
				continue
			}
		case n > 1:
			n = (n + 1) / 2 // too large for a segment: write it in parts
			continue
		default:
			err = fmt.Errorf("encoded, it takes %d bytes, more than a spool segment holds (%d)", len(buf), limit)
		}
		safeHandle(sp.p.cfg.errorHandler, fmt.Errorf("steadylog/processor: record %d cannot be spooled and is kept in memory only: %w", seqs[0], err))
		return nil, 0
	}
}

// packedRecords are the records of a packed chunk at the slots idx, as the
// spooler writes them: the chunk's encodings with its templates'
// resources and scopes. A packed chunk's bytes never change.
type packedRecords struct {
	c   *chunk
	idx []int32
}

func (pk packedRecords) appendBatch(dst []byte, n int) ([]byte, error) {
	c := pk.c
	return recordcodec.AppendEncodedBatch(dst, n,
		func(k int) *sdklog.Record { return c.tmpls[c.tidx[pk.idx[k]]] },
		func(k int) []byte { i := pk.idx[k]; return c.enc[c.offs[i]:c.offs[i+1]] })
}

// advanceSpoolLocked moves next past the records every destination has
// finished: they need not be written. p.mu must be held.
func (p *Processor) advanceSpoolLocked() {
	sp := p.sp
	if sp.busy {
		return // the spooler is writing from next on: it advances next when done
	}
	upTo := p.st.nextSeq
	for _, d := range p.dests {
		upTo = min(upTo, d.next)
	}
	sp.next = max(sp.next, upTo)
}

// sync acknowledges each destination's position, sets the running counts
// at both ends of the ledger, then fsyncs. Spooler only.
func (sp *spooler) sync() {
	p := sp.p
	type ack struct {
		name string
		lsn  uint64
	}
	p.mu.Lock()
	acks := make([]ack, len(p.dests))
	for i, d := range p.dests {
		acks[i] = ack{d.name, sp.ackLocked(d)}
	}
	p.mu.Unlock()
	for _, a := range acks {
		if err := sp.log.Ack(a.name, a.lsn); err != nil {
			sp.syncFailed(err)
			return
		}
	}
	if err := sp.setMeta(); err != nil {
		sp.syncFailed(err)
		return
	}
	if err := p.tel.timeSpoolSync(sp.log.Sync); err != nil {
		sp.syncFailed(err)
	}
}

// syncMeta sets the running counts and syncs, at New: the positions are
// those recover found.
func (sp *spooler) syncMeta() {
	err := sp.setMeta()
	if err == nil {
		err = sp.log.Sync()
	}
	if err != nil {
		sp.failLocked(fmt.Errorf("steadylog/processor: spool %s: sync failed: %w", sp.cfg.dir, err))
		sp.startReport = errors.Join(sp.startReport, sp.lastErr)
	}
}

// setMeta gives the ledger the running counts at its two ends: at its
// next position, every record written so far (only the spooler appends,
// and it is the caller); at each destination's acknowledged position, the
// count before the first payload there that some destination still needs
// — the payloads before it that are not in the index are finished by
// every destination, and losing them loses nothing. Spooler only (or
// New).
func (sp *spooler) setMeta() error {
	p := sp.p
	lsns := make([]uint64, len(p.dests))
	for i, d := range p.dests {
		a, err := sp.log.Acked(d.name)
		if err != nil {
			return err
		}
		lsns[i] = a
	}
	m := spoolMeta{synced: sp.written, acked: make([]ackedCount, len(p.dests))}
	p.mu.Lock()
	for i, d := range p.dests {
		c := ackedCount{name: nameHash(d.name), count: sp.written, known: true}
		k, _ := slices.BinarySearchFunc(sp.index, lsns[i], func(e spoolPayload, lsn uint64) int {
			if e.lsn < lsn {
				return -1
			}
			return 1
		})
		if k < len(sp.index) {
			c.count, c.known = sp.index[k].before, sp.index[k].counted
		}
		m.acked[i] = c
	}
	p.mu.Unlock()
	return sp.log.SetMeta(m.encode())
}

func (sp *spooler) syncFailed(err error) {
	p := sp.p
	p.mu.Lock()
	report := sp.failLocked(fmt.Errorf("steadylog/processor: spool %s: sync failed: %w", sp.cfg.dir, err))
	p.mu.Unlock()
	if report {
		safeHandle(p.cfg.errorHandler, sp.lastErrLocked())
	}
}

func (sp *spooler) lastErrLocked() error {
	sp.p.mu.Lock()
	defer sp.p.mu.Unlock()
	return sp.lastErr
}

// ackLocked returns the log position d acknowledges: that of the first
// payload holding a record at or after its position. p.mu must be held.
func (sp *spooler) ackLocked(d *destination) uint64 {
	i, _ := slices.BinarySearchFunc(sp.index, d.next, func(e spoolPayload, next uint64) int {
		if e.end <= next {
			return -1
		}
		return 1
	})
	if i < len(sp.index) {
		return sp.index[i].lsn
	}
	return sp.nextLsn
}

// payloadsLocked returns the log position of the first payload holding a
// record numbered in [from, memFrom), and how many payloads from it hold,
// together, at most max records (at least one payload), or false when
// there is none. p.mu must be held.
func (sp *spooler) payloadsLocked(from uint64, max int) (lsn uint64, n int, ok bool) {
	i, _ := slices.BinarySearchFunc(sp.index, from, func(e spoolPayload, next uint64) int {
		if e.end <= next {
			return -1
		}
		return 1
	})
	if i >= len(sp.index) || sp.index[i].first >= sp.memFrom {
		return 0, 0, false
	}
	records := 0
	for k := i; k < len(sp.index) && sp.index[k].first < sp.memFrom; k++ {
		if records += sp.index[k].n; records > max && n > 0 {
			break
		}
		n++
	}
	return sp.index[i].lsn, n, true
}

// removedLocked accounts for the records the bounds removed: for each
// destination, those at or after its position that it is not exporting
// now are dropped (spool_full, spool_age); store-wide, those no
// destination had dropped yet. Records memory still holds are not
// dropped: they are no longer in the spool, so spilling waits for them
// to leave memory. p.mu must be held.
func (sp *spooler) removedLocked(rs []segmentlog.Removal) {
	p := sp.p
	for _, r := range rs {
		reason := idxSpoolFull
		if r.Reason == segmentlog.ReasonMaxAge {
			reason = idxSpoolAge
		}
		for len(sp.index) > 0 && sp.index[0].lsn < r.To {
			e := sp.index[0]
			sp.index = sp.index[1:]
			sp.onDisk -= uint64(e.n)
			e.each(sp.released, e.end, func(seq uint64) {
				if seq >= sp.memFrom {
					sp.blockedBelow = max(sp.blockedBelow, seq+1)
					return
				}
				if !sp.dead.add(seq) {
					return
				}
				dropped := false
				for _, d := range p.dests {
					if !d.abandoned && seq >= d.next && seq >= d.bend {
						d.dropped[reason]++
						d.pending--
						dropped = true
					}
				}
				switch {
				case !dropped:
					// The destinations exporting it now decide its
					// outcome, which releaseLocked counts.
					sp.orphans.add(seq)
				case sp.lost.add(seq):
					p.acct.dropped[reason]++
					sp.undecided--
				}
			})
		}
	}
	if len(sp.index) == 0 {
		sp.index = nil // let the array go
	}
}

// releaseLocked accounts store-wide for the spilled records below upTo,
// which every destination has finished: exported, unless one dropped it.
// p.mu must be held.
func (sp *spooler) releaseLocked(upTo uint64) {
	if upTo <= sp.released {
		return
	}
	p := sp.p
	hi := min(upTo, sp.memFrom)
	for k := range sp.index {
		e := &sp.index[k]
		if e.first >= hi {
			break
		}
		e.each(sp.released, hi, func(seq uint64) {
			if !sp.lost.has(seq) {
				p.acct.exported++
				sp.undecided--
			}
		})
	}
	for _, r := range sp.orphans.r {
		for seq := max(r.from, sp.released); seq < min(r.to, hi); seq++ {
			if !sp.lost.has(seq) {
				p.acct.exported++
				sp.undecided--
			}
		}
	}
	sp.released = upTo
	sp.lost.trimBelow(upTo)
	sp.dead.trimBelow(upTo)
	sp.orphans.trimBelow(upTo)
	k := 0
	for k < len(sp.index) && sp.index[k].end <= upTo {
		sp.onDisk -= uint64(sp.index[k].n)
		k++
	}
	sp.index = sp.index[k:]
	if len(sp.index) == 0 {
		sp.index = nil
	}
}

// loseLocked counts the spilled record seq as dropped store-wide for
// reason, unless a destination dropped it already. p.mu must be held.
func (sp *spooler) loseLocked(seq uint64, reason reasonIndex) {
	if seq >= sp.released && sp.lost.add(seq) {
		sp.p.acct.dropped[reason]++
		sp.undecided--
	}
}

// evictedLocked notes that the store evicted seq, which every
// destination that needed it counted as dropped: if it is in the spool
// too, nobody reads it back. p.mu must be held.
func (sp *spooler) evictedLocked(seq uint64) {
	if seq < sp.next {
		sp.dead.add(seq)
		sp.lost.add(seq)
	}
}

// spillForRoomLocked takes records that are in the spool out of memory,
// oldest first, while a record of size bytes (extra records) does not fit
// b, the count bound or the shared budget: they are not dropped, and the
// destinations that still need them read them back from the spool. p.mu
// must be held.
func (p *Processor) spillForRoomLocked(size int64, extra int, b bounds, incoming bool) {
	sp := p.spoolOn()
	if sp == nil {
		return
	}
	freed := false
	for p.st.queued()+extra > p.cfg.maxQueueSize || p.st.heldBytes+size > b.maxBytes || (incoming && !p.sharedFitsLocked(size)) {
		s, ok := p.st.spill(sp.blockedBelow, sp.next)
		if !ok {
			break
		}
		freed = true
		sp.memFrom = s.seq + 1
		if s.lost {
			sp.lost.add(s.seq)
		} else {
			sp.undecided++
		}
		for _, d := range p.dests {
			if !d.abandoned && s.seq >= d.next && s.seq >= d.bend {
				d.pendingBytes -= s.size
			}
		}
	}
	if freed {
		p.releaseLocked()
		p.roomFreedLocked()
	}
}

// leaveLocked ends destination d at Shutdown with a spool: what it has
// not finished and the spool holds stays there for the next start, and
// still counts as queued; what the spool does not hold (it could not
// write it, or its bounds removed it while memory held it) is dropped as
// shutdown. p.mu must be held.
func (sp *spooler) leaveLocked(d *destination) {
	if d.abandoned {
		return
	}
	p := sp.p
	n := p.st.markLostFrom(max(d.next, sp.next), idxShutdown)
	// Records memory holds below blockedBelow are not in the spool
	// either (the bounds removed their copies).
	n += p.st.markLostBetween(d.next, min(sp.blockedBelow, sp.next), idxShutdown)
	// Nor are the records of its batch in flight that the bounds removed
	// meanwhile: their outcome was this export's.
	gone := func(seq uint64) {
		if sp.dead.has(seq) {
			n++
			sp.loseLocked(seq, idxShutdown)
		}
	}
	switch {
	case d.bdisk:
		for _, seq := range d.disk.seqs {
			gone(seq)
		}
	case d.bc != nil:
		p.st.spilledIn(d.bc, d.bfrom, d.bto, func(seq uint64, _ int64) { gone(seq) })
	}
	d.dropped[idxShutdown] += uint64(n)
	d.pending -= n
	d.left = uint64(d.pending)
	d.bn, d.bbytes = 0, 0
	d.retrying = false
	d.abandoned = true
}

// close acknowledges every destination's position and closes the log,
// which releases the directory. What is left counts as left for the next
// start.
func (sp *spooler) close() {
	if !sp.on.Load() || sp.closed.Load() {
		return
	}
	sp.sync()
	p := sp.p
	p.mu.Lock()
	queued, inFlight := p.st.undecided()
	sp.left = uint64(queued+inFlight) + uint64(sp.undecided)
	p.mu.Unlock()
	st := sp.log.Stats()
	err := sp.log.Close()
	p.mu.Lock()
	sp.final = st
	sp.closed.Store(true)
	var report bool
	if err != nil {
		report = sp.failLocked(fmt.Errorf("steadylog/processor: spool %s: closing: %w", sp.cfg.dir, err))
	}
	p.mu.Unlock()
	if report {
		safeHandle(p.cfg.errorHandler, err)
	}
}

// closeUnstarted closes the log of a spool whose processor New could not
// start.
func (sp *spooler) closeUnstarted() {
	if sp != nil && sp.on.Load() {
		_ = sp.log.Close()
	}
}

// logStats returns the log's snapshot; p.mu must not be held. It is zero
// without a spool, or with one that could not be opened.
func (sp *spooler) logStats() segmentlog.Stats {
	if sp == nil || !sp.on.Load() || sp.closed.Load() {
		return segmentlog.Stats{}
	}
	return sp.log.Stats()
}

// statsLocked is the spool's part of Stats; ls is the log's snapshot, or
// zero when the log is closed. p.mu must be held.
func (sp *spooler) statsLocked(ls segmentlog.Stats) *SpoolStats {
	if sp.closed.Load() {
		ls = sp.final
	}
	s := &SpoolStats{
		Dir:              sp.cfg.dir,
		Bytes:            ls.Bytes,
		Records:          sp.onDisk,
		Oldest:           ls.Oldest,
		Recovered:        sp.recovered,
		Resent:           sp.resent,
		Damaged:          sp.damaged + sp.damagedRead,
		LeftForNextStart: sp.left,
		Errors:           sp.errs,
		Degraded:         sp.degraded,
	}
	if sp.lastErr != nil {
		s.LastError = sp.lastErr.Error()
	}
	return s
}
