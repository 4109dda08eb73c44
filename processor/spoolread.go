package processor

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// A destination reads the spool while its position is below what memory
// holds (spooler.memFrom): after a restart, and after records it still
// needed were spilled. It reads whole payloads with a cursor of its own —
// as many as hold an export batch (WithExportMaxBatchSize), at least one
// — decodes them into a batch of its own, and exports that batch; a retry
// exports the same batch again. Memory stays bounded by the byte
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
	wantN   int             // and how many payloads, at most
	pseqs   []uint64        // one payload\'s sequence numbers
	damaged []uint64        // the log positions the read found damaged (segmentlog.Cursor.Damaged)
	skipTo  uint64          // the batch's records, and the damaged payloads before or among them, end here

	replayAt time.Time // no read before this time (WithSpoolReplayRate; spoolreplay.go)
	draining bool      // Shutdown's drain: only its context ends a replay wait
}

// diskDueLocked reports whether d's next batch comes from the spool, and
// notes which payloads to read. p.mu must be held.
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
	lsn, n, ok := sp.payloadsLocked(d.next, d.p.cfg.maxBatchSize)
	if !ok {
		// Nothing this destination needs below memFrom is in the spool
		// any more: the bounds removed it, and counted it.
		d.next = sp.memFrom
		d.p.releaseStoreLocked()
		return false
	}
	d.disk.wantLsn, d.disk.wantN = lsn, n
	return true
}

// readDisk reads and decodes the payloads diskDueLocked chose, unless a
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
	defer func() { d.replayRead(len(r.seqs)) }()
	if r.cur == nil || r.cur.Position() != r.wantLsn {
		if r.cur != nil {
			_ = r.cur.Close()
		}
		r.cur = sp.log.NewCursor(r.wantLsn)
	}
	// Decoded records take several times their encoded size: an eighth
	// of the budget keeps a batch read back well within it (the first
	// payload is read whatever its size).
	recs, err := r.cur.Next(r.wantN, int(min(d.p.cfg.maxQueueBytes/8, math.MaxInt)))
	r.batch, r.seqs, r.bad, r.skipTo = r.batch[:0], r.seqs[:0], nil, 0
	r.damaged = append(r.damaged[:0], r.cur.Damaged()...)
	if err != nil || len(recs) == 0 {
		return err
	}
	// The payloads follow one another: their records are in order.
	for _, rec := range recs {
		h, body, err := parsePayloadHeader(rec.Payload, r.pseqs)
		seqs := h.seqs
		r.pseqs = seqs
		if err == nil {
			n := len(r.batch)
			r.batch, err = recordcodec.DecodeBatch(body, sp.tmpl, r.batch)
			switch {
			case errors.Is(err, recordcodec.ErrInexact):
				if !r.inexact {
					r.inexact = true
					safeHandle(d.p.cfg.errorHandler, fmt.Errorf("steadylog/processor: %sreplaying records from the spool: %w", d.label(), err))
				}
				err = nil
			case err == nil && len(r.batch)-n != len(seqs):
				err = fmt.Errorf("%d records for %d sequence numbers", len(r.batch)-n, len(seqs))
			}
			if err != nil {
				clear(r.batch[n:])
				r.batch = r.batch[:n]
			}
		}
		if err != nil {
			// A payload that does not decode: the ones before it are a
			// batch; it is dropped on its own, as the next batch.
			if len(r.seqs) == 0 {
				r.seqs = append(r.seqs, seqs...)
				r.bad = fmt.Errorf("steadylog/processor: spool %s: payload %d does not decode: %w", sp.cfg.dir, rec.Seq, err)
			}
			break
		}
		r.seqs = append(r.seqs, seqs...)
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
	d.damagedReadLocked()
	if len(r.seqs) == 0 {
		// The payload is gone (the bounds removed it while the cursor
		// moved to it): look again, after the damaged ones.
		r.held = false
		if r.skipTo > d.next {
			d.next = r.skipTo
			p.releaseStoreLocked()
		}
		return nil, false
	}
	end := max(min(r.seqs[len(r.seqs)-1]+1, sp.memFrom), r.skipTo)
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

// damagedReadLocked accounts for the payloads the read found damaged
// after New (their checksum no longer matches) that a destination still
// needs: they count in Stats.Spool.Damaged, once; this destination drops
// the records it needed from them (export_failed, as a payload that does
// not decode), and its batch ends after them, so that it does not read
// them again. p.mu must be held.
func (d *destination) damagedReadLocked() {
	p := d.p
	sp := p.sp
	r := &d.disk
	for _, lsn := range r.damaged {
		k, found := slices.BinarySearchFunc(sp.index, lsn, func(e spoolPayload, lsn uint64) int {
			return cmp.Compare(e.lsn, lsn)
		})
		if !found {
			continue // nobody needs it, or the bounds removed it meanwhile
		}
		e := &sp.index[k]
		if sp.readDamaged.add(lsn) {
			sp.damagedRead += uint64(e.n)
		}
		e.each(d.next, sp.memFrom, func(seq uint64) {
			if !sp.dead.has(seq) {
				d.dropped[idxExportFailed]++
				d.pending--
				sp.loseLocked(seq, idxExportFailed)
			}
		})
		r.skipTo = max(r.skipTo, min(e.end, sp.memFrom))
	}
	r.damaged = r.damaged[:0]
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
