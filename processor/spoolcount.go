package processor

import (
	"encoding/binary"

	"github.com/steadylog/steadylog/internal/segmentlog"
)

// How the spool counts, in records, what damage took from it between two
// starts. See DESIGN.md, "How the spool is wired beneath the store".
//
// The segment log counts lost payloads; a payload is a batch of any size,
// and record sequence numbers skip records evicted before they were
// written, so neither gives records. The spool keeps a running count of
// the records it has written (spooler.written), continued across restarts,
// and writes it in each payload's header ("before": the count when it was
// written). The ledger's metadata (segmentlog.Log.SetMeta), written with
// the positions at every Sync, holds the count at both ends of what the
// ledger describes: at its next position (what was appended before that
// Sync) and at its oldest acknowledged position. At Open the records lost
//
//   - in the middle are the difference between the counts of the two
//     payloads around the damage;
//   - at the head, between the count at the oldest acknowledged position
//     and the first payload that decodes;
//   - at the tail, between the last payload that decodes and the count at
//     the last Sync (what was appended after it and lost in a crash is not
//     counted: nothing proves it existed, as in the segment log).
//
// A payload whose header does not decode is counted by its neighbours'
// counts. Without the ledger only the middle is counted. Next to a payload
// of the first format, which has no count, each lost payload counts as one
// record (a lower bound), and New's report says so.

// spoolMetaVersion is the version of spoolMeta's encoding.
const spoolMetaVersion = 1

// spoolMeta is the spool's metadata in the segment log's ledger:
//
//	u8 version | u8 flags (1: acked is known) | uvarint synced | uvarint acked
type spoolMeta struct {
	synced     uint64 // the running count at the ledger's next position
	acked      uint64 // the running count at the ledger's oldest acknowledged position
	ackedKnown bool   // false when the payload there is of the first format
}

func (m spoolMeta) encode() []byte {
	var flags byte
	if m.ackedKnown {
		flags = 1
	}
	b := []byte{spoolMetaVersion, flags}
	b = binary.AppendUvarint(b, m.synced)
	return binary.AppendUvarint(b, m.acked)
}

// decodeSpoolMeta decodes b, and reports whether it is the spool's
// metadata.
func decodeSpoolMeta(b []byte) (spoolMeta, bool) {
	if len(b) < 2 || b[0] != spoolMetaVersion || b[1] > 1 {
		return spoolMeta{}, false
	}
	m := spoolMeta{ackedKnown: b[1] == 1}
	b = b[2:]
	var n int
	if m.synced, n = binary.Uvarint(b); n <= 0 {
		return spoolMeta{}, false
	}
	b = b[n:]
	if m.acked, n = binary.Uvarint(b); n <= 0 || n != len(b) {
		return spoolMeta{}, false
	}
	return m, true
}

// damageCount counts the records lost to damage during recover's pass over
// the payloads, in log order.
type damageCount struct {
	meta    spoolMeta
	metaOK  bool   // the ledger held the spool's metadata
	nextLsn uint64 // the log position after the last payload that decoded, or where the pass began
	end     uint64 // the running count after it, or at the oldest acknowledged position
	counted bool   // end is known
	removed uint64 // records the bounds removed at Open, at the head: not damage
	records uint64 // records lost
	batches uint64 // payloads lost whose records could not be counted
}

// newDamageCount starts counting at the log position from, the oldest a
// destination had not acknowledged.
func newDamageCount(rec segmentlog.Recovery, from uint64) *damageCount {
	d := &damageCount{nextLsn: from}
	if m, ok := decodeSpoolMeta(rec.Meta); ok {
		d.meta, d.metaOK = m, true
		d.end, d.counted = m.acked, m.ackedKnown
	}
	return d
}

// payload accounts for the payload at lsn, which decoded to h: the
// records lost between the previous one and it.
func (d *damageCount) payload(lsn uint64, h payloadHeader) {
	n := uint64(len(h.seqs))
	switch {
	case d.counted && h.counted:
		d.gap(h.before)
		d.end = max(d.end, h.before+n)
	case lsn > d.nextLsn:
		d.batches += lsn - d.nextLsn
		fallthrough
	default:
		d.end, d.counted = h.before+n, h.counted
	}
	d.nextLsn = lsn + 1
	d.removed = 0
}

// gap counts the records between d.end and count, less those the bounds
// removed at Open (all at the head, so in the first gap counted).
func (d *damageCount) gap(count uint64) {
	if count <= d.end {
		return
	}
	lost := count - d.end
	taken := min(lost, d.removed)
	d.removed -= taken
	d.records += lost - taken
}

// tail accounts for the payloads after the last that decoded, up to the
// log position next, and returns the running count the spool continues
// from.
func (d *damageCount) tail(next uint64) (written uint64) {
	switch {
	case d.metaOK && d.counted:
		d.gap(d.meta.synced)
	case next > d.nextLsn:
		d.batches += next - d.nextLsn
	}
	switch {
	case d.counted:
		return d.end
	case d.metaOK:
		return d.meta.synced
	}
	return 0
}

// total is what Stats.Spool.Damaged counts: a payload whose records could
// not be counted counts as one.
func (d *damageCount) total() uint64 { return d.records + d.batches }
