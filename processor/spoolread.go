package processor

import (
	"errors"
	"fmt"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// A destination reads the spool while its position is below what memory
// holds (spooler.memFrom): after a restart, and after records it still
// needed were spilled. It reads a payload at a time with a cursor of its
// own, decodes it into a batch of its own, and exports that batch; a
// retry exports the same batch again. Memory stays bounded by the byte
// budget: the backlog is read back one batch per destination at a time.

// diskReader is a destination's reading of the spool, owned by its worker.
type diskReader struct {
	cur     *segmentlog.Cursor
	batch   []sdklog.Record // the batch read, kept until it is exported or dropped
	seqs    []uint64        // the sequence numbers of batch
	held    bool            // batch is a batch not finished yet: a retry exports it again
	bad     error           // the payload read could not be decoded
	inexact bool            // recordcodec.ErrInexact was reported
	wantLsn uint64          // the payload to read next
}

// diskDueLocked reports whether d's next batch comes from the spool, and
// notes which payload to read. p.mu must be held.
func (d *destination) diskDueLocked() bool {
	sp := d.p.spoolOn()
	if sp == nil {
		return false
	}
	if d.disk.held {
		return true
	}
	if d.next >= sp.memFrom {
		return false
	}
	lsn, ok := sp.payloadLocked(d.next)
	if !ok {
		// Nothing this destination needs below memFrom is in the spool
		// any more: the bounds removed it, and counted it.
		d.next = sp.memFrom
		d.p.releaseStoreLocked()
		return false
	}
	d.disk.wantLsn = lsn
	return true
}

// readDisk reads and decodes the payload diskDueLocked chose, unless a
// batch is held for a retry. p.mu must not be held.
func (d *destination) readDisk() error {
	r := &d.disk
	if r.held {
		return nil
	}
	sp := d.p.sp
	if sp.closed.Load() {
		return segmentlog.ErrClosed
	}
	if r.cur == nil || r.cur.Position() != r.wantLsn {
		if r.cur != nil {
			_ = r.cur.Close()
		}
		r.cur = sp.log.NewCursor(r.wantLsn)
	}
	recs, err := r.cur.Next(1, 0)
	r.batch, r.seqs, r.bad = r.batch[:0], r.seqs[:0], nil
	if err != nil || len(recs) == 0 {
		return err
	}
	seqs, body, err := parsePayloadHeader(recs[0].Payload, r.seqs)
	r.seqs = seqs
	if err != nil {
		r.seqs = r.seqs[:0]
		r.bad = fmt.Errorf("steadylog/processor: spool %s: payload %d: %w", sp.cfg.dir, recs[0].Seq, err)
		return nil
	}
	batch, err := recordcodec.DecodeBatch(body, sp.tmpl, r.batch[:0])
	r.batch = batch
	switch {
	case errors.Is(err, recordcodec.ErrInexact):
		if !r.inexact {
			r.inexact = true
			safeHandle(d.p.cfg.errorHandler, fmt.Errorf("steadylog/processor: %sreplaying records from the spool: %w", d.label(), err))
		}
	case err == nil && len(batch) == len(seqs):
	default:
		if err == nil {
			err = fmt.Errorf("%d records for %d sequence numbers", len(batch), len(seqs))
		}
		r.bad = fmt.Errorf("steadylog/processor: spool %s: payload %d does not decode: %w", sp.cfg.dir, recs[0].Seq, err)
		clear(r.batch)
		r.batch = r.batch[:0]
	}
	return nil
}

// takeDiskLocked keeps of the batch read the records this destination
// still needs and nobody removed meanwhile, pins nothing (the batch is
// the worker's own) and marks them in flight. It returns false when none
// is left; a batch that did not decode is dropped as export_failed. p.mu
// must be held.
func (d *destination) takeDiskLocked() ([]sdklog.Record, bool) {
	p := d.p
	sp := p.sp
	r := &d.disk
	if len(r.seqs) == 0 {
		// The payload is gone (the bounds removed it while the cursor
		// moved to it): look again.
		r.held = false
		return nil, false
	}
	end := min(r.seqs[len(r.seqs)-1]+1, sp.memFrom)
	k := 0
	for i, seq := range r.seqs {
		if seq >= d.next && seq < sp.memFrom && !sp.dead.has(seq) {
			if r.bad == nil {
				r.batch[k] = r.batch[i]
			}
			r.seqs[k] = seq
			k++
		}
	}
	if r.bad == nil {
		clear(r.batch[k:])
		r.batch = r.batch[:k]
	}
	r.seqs = r.seqs[:k]
	if r.bad != nil || k == 0 {
		for _, seq := range r.seqs {
			d.dropped[idxExportFailed]++
			d.pending--
			sp.loseLocked(seq, idxExportFailed)
		}
		d.next = max(d.next, end)
		r.held = false
		p.releaseStoreLocked()
		return nil, false
	}
	d.bn, d.bbytes, d.bend, d.bdisk = k, 0, end, true
	r.held = true
	return r.batch, true
}

// diskOutcomeLocked accounts for the export of a batch read from the
// spool: exported, dropped (export_failed), or kept for a retry. p.mu must
// be held.
func (d *destination) diskOutcomeLocked(err error, retrying bool, now time.Time) {
	p := d.p
	r := &d.disk
	n := d.bn
	end := d.bend
	d.bn, d.bend, d.bdisk = 0, 0, false
	switch {
	case d.abandoned:
		return
	case err == nil:
		d.exported += uint64(n)
		d.pending -= n
		d.next = max(d.next, end)
		d.retrying, d.outageSpent = false, false
	case retrying:
		d.retrying = true
		return
	default:
		d.dropped[idxExportFailed] += uint64(n)
		d.pending -= n
		for _, seq := range r.seqs {
			p.sp.loseLocked(seq, idxExportFailed)
		}
		d.next = max(d.next, end)
		d.retrying = false
		d.outageSpent = !d.outageStart.IsZero() && now.Sub(d.outageStart) >= p.cfg.retryMaxElapsed
	}
	clear(r.batch)
	r.batch, r.seqs, r.held = r.batch[:0], r.seqs[:0], false
	p.releaseStoreLocked()
}

// closeDisk releases the destination's cursor. Worker only.
func (d *destination) closeDisk() {
	if d.disk.cur != nil {
		_ = d.disk.cur.Close()
		d.disk.cur = nil
	}
}
