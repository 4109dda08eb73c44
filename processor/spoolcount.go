package processor

import (
	"encoding/binary"
	"hash/fnv"
	"slices"

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
//	u8 version | uvarint synced | uvarint n |
//	n × (u32 FNV-1a of the destination's name | u8 known | uvarint count)
//
// The names are hashed so that the metadata stays within
// segmentlog.MaxMeta whatever they are.
type spoolMeta struct {
	synced uint64       // the running count at the ledger's next position
	acked  []ackedCount // per destination, the count at its acknowledged position
}

// ackedCount is the running count at one destination's acknowledged
// position: the count before the first payload it still needs.
type ackedCount struct {
	name  uint32 // nameHash of the destination's name
	count uint64
	known bool // false when the payload there is of the first format
}

func nameHash(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()
}

func (m spoolMeta) encode() []byte {
	b := []byte{spoolMetaVersion}
	b = binary.AppendUvarint(b, m.synced)
	b = binary.AppendUvarint(b, uint64(len(m.acked)))
	for _, a := range m.acked {
		b = binary.LittleEndian.AppendUint32(b, a.name)
		known := byte(0)
		if a.known {
			known = 1
		}
		b = append(b, known)
		b = binary.AppendUvarint(b, a.count)
	}
	return b
}

// decodeSpoolMeta decodes b, and reports whether it is the spool's
// metadata.
func decodeSpoolMeta(b []byte) (spoolMeta, bool) {
	if len(b) < 1 || b[0] != spoolMetaVersion {
		return spoolMeta{}, false
	}
	b = b[1:]
	var m spoolMeta
	var n int
	if m.synced, n = binary.Uvarint(b); n <= 0 {
		return spoolMeta{}, false
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return spoolMeta{}, false
	}
	b = b[n:]
	for range count {
		if len(b) < 5 || b[4] > 1 {
			return spoolMeta{}, false
		}
		a := ackedCount{name: binary.LittleEndian.Uint32(b), known: b[4] == 1}
		if a.count, n = binary.Uvarint(b[5:]); n <= 0 {
			return spoolMeta{}, false
		}
		b = b[5+n:]
		m.acked = append(m.acked, a)
	}
	if len(b) != 0 {
		return spoolMeta{}, false
	}
	return m, true
}

// oldest returns the count at the ledger's oldest acknowledged position:
// the least of the destinations' (the ledger's is the least of theirs).
func (m spoolMeta) oldest() (count uint64, known bool) {
	if len(m.acked) == 0 {
		return 0, false
	}
	count = m.acked[0].count
	for _, a := range m.acked {
		if !a.known {
			return 0, false
		}
		count = min(count, a.count)
	}
	return count, true
}

// of returns the count at the acknowledged position of the destination
// named name, if the metadata has it.
func (m spoolMeta) of(name string) (uint64, bool) {
	h := nameHash(name)
	for _, a := range m.acked {
		if a.name == h {
			return a.count, a.known
		}
	}
	return 0, false
}

// damageCount counts, during recover's pass over the payloads in log
// order, the records lost to damage, and those the bounds removed at Open
// (segmentlog.Recovery.Removed).
type damageCount struct {
	meta    spoolMeta
	metaOK  bool   // the ledger held the spool's metadata
	nextLsn uint64 // the log position after the last payload that decoded, or where the pass began
	end     uint64 // the running count after it, or at the oldest acknowledged position
	counted bool   // end is known
	head    bool   // no payload has decoded yet
	records uint64 // records lost
	batches uint64 // payloads lost whose records could not be counted

	// The bounds remove at Open from the oldest acknowledged position on:
	// the records between it and the first payload that decodes are the
	// bounds', not damage (damage within what they removed was removed
	// all the same).
	removals        []segmentlog.Removal
	removedFrom     uint64 // the count where they start
	removedTo       uint64 // and where they end
	removedCounted  bool   // removedFrom and removedTo are known
	removedPayloads uint64 // the payloads they removed, when the counts are not known
}

// newDamageCount starts counting at the log position from, the oldest a
// destination had not acknowledged.
func newDamageCount(rec segmentlog.Recovery, from uint64) *damageCount {
	d := &damageCount{nextLsn: from, head: true, removals: rec.Removed}
	if m, ok := decodeSpoolMeta(rec.Meta); ok {
		d.meta, d.metaOK = m, true
		d.end, d.counted = m.oldest()
	}
	for _, r := range rec.Removed {
		d.removedPayloads += r.To - r.From
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
	d.head = false
}

// gap counts the records between d.end and count: removed by the bounds
// at the head when they removed some at Open, lost to damage otherwise.
func (d *damageCount) gap(count uint64) {
	if d.head && len(d.removals) > 0 {
		d.removedFrom, d.removedTo, d.removedCounted = d.end, max(d.end, count), true
		return
	}
	if count > d.end {
		d.records += count - d.end
	}
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
		return max(d.end, d.removedTo)
	case d.metaOK:
		return d.meta.synced
	}
	return 0
}

// total is what Stats.Spool.Damaged counts: a payload whose records could
// not be counted counts as one.
func (d *damageCount) total() uint64 { return d.records + d.batches }

// removed returns the records the bounds removed at Open, and the reason
// they are dropped for: spool_age, unless only the byte bound removed
// some (when both did, the age bound, which runs first, takes them all:
// the count between them is not known). Without the counts, a payload
// counts as one record.
func (d *damageCount) removed() (uint64, reasonIndex) {
	reason := idxSpoolAge
	if len(d.removals) > 0 && !slices.ContainsFunc(d.removals, func(r segmentlog.Removal) bool { return r.Reason == segmentlog.ReasonMaxAge }) {
		reason = idxSpoolFull
	}
	if !d.removedCounted {
		return d.removedPayloads, reason
	}
	return d.removedTo - d.removedFrom, reason
}

// removedFor returns how many of the records the bounds removed at Open
// the destination named name had not acknowledged.
func (d *damageCount) removedFor(name string) uint64 {
	all, _ := d.removed()
	if !d.removedCounted {
		return all
	}
	if c, ok := d.meta.of(name); ok {
		return d.removedTo - min(max(c, d.removedFrom), d.removedTo)
	}
	return all // a destination new to the spool starts at the oldest position
}
