package processor

import (
	"math"
	"unsafe"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/sdkrecord"
)

// store holds every admitted record once, however many destinations it
// goes to, in arrival order, until every destination has finished with it
// (exported it, or dropped it).
//
// Records live in chunks of at most a batch of slots. Each record has a
// sequence number — its arrival order — and slot i of a chunk holds the
// record numbered c.base+i: records never move, so a destination's
// position is just a sequence number (destination.next), and a batch is a
// slice of one chunk handed to the exporter without copying. Several
// destinations may read the same slots at once: exporters only read
// records (the sdklog.Exporter contract), and a slot that any destination
// is exporting is pinned, so nothing clears or reuses it meanwhile.
//
// A slot is live (held, waiting for a destination), dead (evicted: every
// destination that had not finished it counts a drop) or released (every
// destination finished it). Releasing happens in sequence order, when the
// slowest destination moves past a record; eviction may take a record from
// the middle (a pinned slot is skipped, and severity-aware eviction picks
// by severity), which leaves a dead slot that batches skip.
//
// Who owns what: the store is not safe for concurrent use; the Processor
// guards it with its mutex. The records slice of a pinned range is read,
// without the mutex, by the one destination worker that pinned it.
type store struct {
	first, last   *chunk
	spare         []*chunk // cleared chunks kept for reuse
	spareSlots    int      // slots of the spare chunks
	chunkCap      int      // slots per chunk: the batch size
	maxSpareSlots int
	nextSeq       uint64 // the sequence number of the next record pushed

	held        int   // live records
	heldBytes   int64 // and their sizes
	pinned      int   // live records that at least one destination is exporting
	pinnedBytes int64

	// Live records that a destination dropped already (slotMeta.lost):
	// store-wide they count as dropped from that moment, though the store
	// keeps them for the destinations that still need them.
	lostHeld   int
	lostPinned int

	// Where eviction resumes: every live slot before it is pinned. It is a
	// hint, valid while the chunk's generation is unchanged.
	evictChunk *chunk
	evictGen   uint64
	evictIdx   int

	acct *accounts // store-wide outcomes, counted as records are released

	// Packing (see pack): the chunk to look at next for one to pack, valid
	// while its generation is unchanged; the encoding scratch buffer; and
	// the sizes slots had before the last pack.
	packNext *chunk
	packGen  uint64
	packBuf  []byte
	packOld  []int64
	tmpls    []*sdklog.Record // templates packed chunks share (pack.go)

	// The slots [spoolFrom, spoolTo) of spoolC are being written to the
	// spool by the spooler goroutine, without the mutex (spool.go):
	// nothing evicts, spills or packs them meanwhile, and while
	// spoolC.spooling nothing clears, rewinds or recycles the chunk's
	// slots — they may still be released, as destinations finish them —
	// until endSpoolingLocked.
	spoolC             *chunk
	spoolFrom, spoolTo int
}

// spooling reports whether slot i of c is being written to the spool.
func (s *store) spooling(c *chunk, i int) bool {
	return c == s.spoolC && i >= s.spoolFrom && i < s.spoolTo
}

// spilled describes a record the store spilled.
type spilled struct {
	seq    uint64
	size   int64
	lost   bool // a destination had dropped it already: store-wide it was counted then
	pinned bool // a destination is exporting it from memory now
}

// spill takes the oldest live record out of memory if it is numbered
// below upTo (every such record is in the spool) and at least from (the
// records below from are not, or no longer, in the spool), and returns
// it; it reports false when there is none. A spilled record is not
// dropped: its outcome stays open, and the caller moves its accounting
// to the spool's. A pinned record is spilled too — a hung export must
// not keep the oldest records in memory — and keeps its slot until its
// last unpin.
func (s *store) spill(from, upTo uint64) (spilled, bool) {
	for c := s.first; c != nil; c = c.next {
		for i := c.head; i < c.tail; i++ {
			m := &c.meta[i]
			if m.state != slotLive {
				continue
			}
			seq := c.base + uint64(i)
			if seq >= upTo || seq < from {
				return spilled{}, false
			}
			sp := spilled{seq: seq, size: m.size, lost: m.lost != 0, pinned: m.pins > 0}
			m.state = slotSpilled
			c.done++
			s.held--
			s.heldBytes -= m.size
			if sp.lost {
				s.lostHeld--
			}
			if sp.pinned {
				s.pinned--
				s.pinnedBytes -= m.size
				if sp.lost {
					s.lostPinned--
				}
			} else {
				c.clearSlot(i)
			}
			s.finish(c)
			return sp, true
		}
	}
	return spilled{}, false
}

// spilledIn calls f with the sequence number and size of each slot of
// c[from:to] spilled while a destination was exporting it.
func (s *store) spilledIn(c *chunk, from, to int, f func(seq uint64, size int64)) {
	for i := from; i < to; i++ {
		if m := &c.meta[i]; m.state == slotSpilled {
			f(c.base+uint64(i), m.size)
		}
	}
}

// accounts are the store-wide outcome counters. A record counts as
// exported once every destination exported it; as dropped, under the
// reason of its first drop, as soon as one destination dropped it (the
// store marks it lost: see markLost) or the store evicted it.
type accounts struct {
	exported uint64
	dropped  [numReasons]uint64
}

type chunk struct {
	recs []sdklog.Record
	meta []slotMeta
	base uint64 // the sequence number of slot 0
	head int    // every slot before head is dead or released
	tail int    // the next free slot
	done int    // dead or released slots in [0, tail)
	pins int    // slots with pins > 0
	next *chunk
	prev *chunk
	gen  uint64 // incremented whenever the chunk is reset or recycled

	unlinked bool // off the list, but still pinned: recycled at the last unpin

	// A packed chunk holds its records encoded (see pack) instead of in
	// recs, which is nil: slot i's bytes are enc[offs[i]:offs[i+1]],
	// decoded into a copy of tmpls[tidx[i]]. What pack writes is not
	// written again until the chunk is recycled, which waits for its last
	// unpin: a worker decodes a pinned range without the mutex.
	packed     bool
	packing    bool // the packer goroutine is encoding recs without the mutex (pack.go)
	spooling   bool // the spooler is encoding slots of it without the mutex (spool.go): see store.spoolC
	unpackable bool // pack tried and could not encode every record
	enc        []byte
	offs       []uint32
	tidx       []uint8
	tmpls      []*sdklog.Record
}

// clearSlot drops the record of slot i, which no destination needs any
// more, so that the store keeps alive no memory it no longer counts. A
// packed chunk has no records to drop, and the packer drops those of a
// chunk it is reading when it is done (endPackingLocked).
func (c *chunk) clearSlot(i int) {
	if !c.packed && !c.packing && !c.spooling {
		c.recs[i] = sdklog.Record{}
	}
}

// Slot states.
const (
	slotLive uint8 = iota
	slotDead
	slotReleased
	// slotSpilled: the record is in the spool and no longer in memory
	// (spill): its outcome is still open, and destinations behind it read
	// it from the spool. A slot spilled while pinned keeps its record
	// until its last unpin, as a released one does.
	slotSpilled
)

type slotMeta struct {
	size  int64
	sev   log.Severity
	pins  uint16 // destinations exporting the slot now
	state uint8
	lost  uint8 // 0, or 1 + the reasonIndex of the first drop by a destination
}

// inlineAttrs is the number of attributes sdklog.Record stores inline; a
// record with no more than that has no attribute slice to clone.
const inlineAttrs = sdkrecord.InlineAttrs

// slotBytes is what one slot costs: the record stored by value
// (MinQueueBytes, which the byte budget counts) and its slotMeta (which it
// does not): 608 bytes on 64-bit platforms with sdk/log v1.47.0.
const slotBytes = int64(unsafe.Sizeof(sdklog.Record{}) + unsafe.Sizeof(slotMeta{}))

// minChunkSlots is the number of slots a new chunk starts with; it doubles
// as records arrive, up to the batch size.
const minChunkSlots = 16

// newStore returns a store whose chunks hold up to chunkCap records, for
// at most maxLen queued records and maxBytes bytes.
//
// Slots are allocated as they are used: a chunk starts small and doubles
// up to chunkCap, so one record costs a few slots, not a batch of them,
// whatever the configured sizes. Cleared chunks are kept for reuse, so a
// steady or overflowing store allocates nothing — but only up to as many
// slots as a full queue and the batches in flight use, and never more than
// a quarter of the byte budget in slots: the budget counts the slots that
// hold records (memguard.RecordSize includes the slot), and what it does
// not count stays bounded by it.
func newStore(chunkCap, maxLen int, maxBytes int64, acct *accounts) *store {
	spare := maxLen
	if spare > math.MaxInt-2*chunkCap {
		spare = math.MaxInt
	} else {
		spare += 2 * chunkCap
	}
	if byBytes := maxBytes / (4 * slotBytes); int64(spare) > byBytes {
		spare = int(byBytes)
	}
	return &store{chunkCap: chunkCap, maxSpareSlots: spare, acct: acct}
}

// queued is the number of live records no destination is exporting: the
// count the queue-size bound applies to.
func (s *store) queued() int { return s.held - s.pinned }

func (s *store) newChunk() *chunk {
	if n := len(s.spare); n > 0 {
		c := s.spare[n-1]
		s.spare[n-1] = nil
		s.spare = s.spare[:n-1]
		s.spareSlots -= len(c.recs)
		c.base = s.nextSeq
		return c
	}
	n := min(s.chunkCap, minChunkSlots)
	return &chunk{
		recs: make([]sdklog.Record, n),
		meta: make([]slotMeta, n),
		base: s.nextSeq,
	}
}

// grow doubles the slots of c, up to limit, keeping its records. A
// destination exporting a pinned range of c goes on reading the old array,
// which stays valid: nothing writes to it again.
func (c *chunk) grow(limit int) {
	n := min(limit, max(2*len(c.recs), minChunkSlots))
	recs := make([]sdklog.Record, n)
	copy(recs, c.recs[:c.tail])
	meta := make([]slotMeta, n)
	copy(meta, c.meta[:c.tail])
	c.recs, c.meta = recs, meta
}

// push appends a copy of r, which must own its attributes beyond the
// inline ones: with no more attributes than that, a plain copy is a full
// clone. The caller has made room.
func (s *store) push(r *sdklog.Record, size int64, sev log.Severity) {
	c := s.last
	if c != nil && c.tail == len(c.recs) && c.tail < s.chunkCap && c.pins == 0 {
		c.grow(s.chunkCap)
	}
	// A chunk that a destination is exporting from takes no more records:
	// a hung export would otherwise keep a whole batch of slots alive for
	// the sake of one record, and its batch would be one slice of a chunk
	// that keeps changing.
	if c == nil || c.tail == len(c.recs) || c.pins > 0 {
		c = s.newChunk()
		if s.last == nil {
			s.first = c
		} else {
			s.last.next = c
			c.prev = s.last
		}
		s.last = c
	}
	c.recs[c.tail] = *r
	c.meta[c.tail] = slotMeta{size: size, sev: sev}
	s.nextSeq++
	c.tail++
	s.held++
	s.heldBytes += size
}

// locate returns the first live slot with a sequence number ≥ seq, or
// nil.
func (s *store) locate(seq uint64) (*chunk, int) {
	for c := s.first; c != nil; c = c.next {
		end := c.base + uint64(c.tail)
		if seq >= end {
			continue
		}
		i := c.head
		if seq > c.base+uint64(i) {
			i = int(seq - c.base)
		}
		for ; i < c.tail; i++ {
			if c.meta[i].state == slotLive {
				return c, i
			}
		}
	}
	return nil, 0
}

// firstLive is the sequence number of the first live record ≥ seq.
func (s *store) firstLive(seq uint64) (uint64, bool) {
	c, i := s.locate(seq)
	if c == nil {
		return 0, false
	}
	return c.base + uint64(i), true
}

// pin marks the live slots of c[from:to] as being exported by one more
// destination, and returns how many live records and bytes they hold and
// whether the range holds dead slots (then the batch must be gathered).
func (s *store) pin(c *chunk, from, to int) (n int, bytes int64, gaps bool) {
	for i := from; i < to; i++ {
		m := &c.meta[i]
		if m.state != slotLive {
			gaps = true
			continue
		}
		n++
		bytes += m.size
		if m.pins == 0 {
			c.pins++
			s.pinned++
			s.pinnedBytes += m.size
			if m.lost != 0 {
				s.lostPinned++
			}
		}
		m.pins++
	}
	return n, bytes, gaps
}

// unpin undoes pin for one destination. A slot released while pinned is
// cleared now; a chunk unlinked while pinned is recycled at its last
// unpin. Live slots that become unpinned are evictable again.
func (s *store) unpin(c *chunk, from, to int) {
	for i := from; i < to; i++ {
		m := &c.meta[i]
		if m.pins == 0 {
			continue // dead: it was never pinned
		}
		m.pins--
		if m.pins > 0 {
			continue
		}
		c.pins--
		switch m.state {
		case slotLive:
			s.pinned--
			s.pinnedBytes -= m.size
			if m.lost != 0 {
				s.lostPinned--
			}
		case slotReleased, slotSpilled:
			c.clearSlot(i)
		}
	}
	if c.unlinked {
		// Off the list already: recycled at the last unpin, or when
		// packing or spooling ends.
		if c.pins == 0 && !c.packing && !c.spooling {
			c.unlinked = false
			s.recycle(c)
		}
		return
	}
	if c.pins == 0 && c.tail > 0 && c.done == c.tail {
		s.finish(c) // finished while pinned, and still on the list
		return
	}
	// Records another destination still needs are evictable again: let
	// eviction look from here.
	if c == s.evictChunk && c.gen == s.evictGen && from < s.evictIdx {
		s.evictIdx = from
	} else if s.evictChunk != nil && (s.evictChunk.gen != s.evictGen || c.base < s.evictChunk.base) {
		s.evictChunk = nil
	}
}

// markLost records reason as the first drop of the live slots of
// c[from:to] that have none yet, and counts them store-wide as dropped
// for that reason.
func (s *store) markLost(c *chunk, from, to int, reason reasonIndex) {
	for i := from; i < to; i++ {
		if m := &c.meta[i]; m.state == slotLive && m.lost == 0 {
			s.lose(m, reason)
		}
	}
}

// markLostFrom does markLost for every live record ≥ seq, and returns how
// many live records there are from seq on.
func (s *store) markLostFrom(seq uint64, reason reasonIndex) (n int) {
	return s.markLostBetween(seq, math.MaxUint64, reason)
}

// markLostBetween does markLost for every live record numbered in [from,
// to), and returns how many live records there are in it.
func (s *store) markLostBetween(from, to uint64, reason reasonIndex) (n int) {
	for c, i := s.locate(from); c != nil && c.base < to; c, i = c.next, 0 {
		for ; i < c.tail && c.base+uint64(i) < to; i++ {
			if m := &c.meta[i]; m.state == slotLive {
				n++
				if m.lost == 0 {
					s.lose(m, reason)
				}
			}
		}
	}
	return n
}

// lose marks the live slot m, which has no drop yet, as dropped first for
// reason: its store-wide outcome is decided now.
func (s *store) lose(m *slotMeta, reason reasonIndex) {
	m.lost = uint8(reason) + 1
	s.acct.dropped[reason]++
	s.lostHeld++
	if m.pins > 0 {
		s.lostPinned++
	}
}

// undecided returns the live records whose store-wide outcome is still
// open — queued, and in flight — as Stats counts them.
func (s *store) undecided() (queued, inFlight int) {
	return s.queued() - (s.lostHeld - s.lostPinned), s.pinned - s.lostPinned
}

// evicted describes a record the store evicted.
type evicted struct {
	seq  uint64
	size int64
	lost bool // a destination had dropped it already: store-wide it was counted then
}

// evict removes the oldest live record numbered below before that no
// destination is exporting and, with below, whose severity is below sev.
// It returns false when there is none. The caller counts the drop.
func (s *store) evict(before uint64, below bool, sev log.Severity) (evicted, bool) {
	c, i := s.first, 0
	hinted := !below && s.evictChunk != nil && s.evictChunk.gen == s.evictGen && !s.evictChunk.unlinked
	if hinted {
		c, i = s.evictChunk, s.evictIdx
	}
	for ; c != nil && c.base+uint64(c.head) < before; c, i = c.next, 0 {
		if i < c.head {
			i = c.head
		}
		for ; i < c.tail && c.base+uint64(i) < before; i++ {
			m := &c.meta[i]
			if m.state != slotLive || m.pins > 0 || (below && m.sev >= sev) || s.spooling(c, i) {
				continue
			}
			ev := evicted{seq: c.base + uint64(i), size: m.size, lost: m.lost != 0}
			if !below {
				s.evictChunk, s.evictGen, s.evictIdx = c, c.gen, i+1
			}
			if ev.lost {
				s.lostHeld--
			}
			m.state = slotDead
			c.clearSlot(i)
			c.done++
			s.held--
			s.heldBytes -= m.size
			s.finish(c)
			return ev, true
		}
	}
	return evicted{}, false
}

// evictable visits the live records no destination is exporting, oldest
// first, numbered from from up to (not including) before and, with below,
// with a severity below sev, until visit returns false. It changes
// nothing: it lets a caller find out whether evicting would make room
// before it evicts anything.
func (s *store) evictable(from, before uint64, below bool, sev log.Severity, visit func(size int64) bool) {
	for c := s.first; c != nil && c.base+uint64(c.head) < before; c = c.next {
		if c.base+uint64(c.tail) <= from {
			continue
		}
		i := c.head
		if from > c.base+uint64(i) {
			i = int(from - c.base)
		}
		for ; i < c.tail && c.base+uint64(i) < before; i++ {
			m := &c.meta[i]
			if m.state != slotLive || m.pins > 0 || (below && m.sev >= sev) || s.spooling(c, i) {
				continue
			}
			if !visit(m.size) {
				return
			}
		}
	}
}

// release marks every live record with a sequence number < upTo as
// released — every destination has finished with it — and counts its
// outcome.
func (s *store) release(upTo uint64) {
	for c := s.first; c != nil && c.base+uint64(c.head) < upTo; {
		end := int(min(upTo-c.base, uint64(c.tail)))
		// Released records are cleared, so that the store pins no memory
		// it no longer counts, in runs: one clear of a run of slots costs
		// a fraction of clearing them one by one. A run may take in dead
		// and earlier released slots (cleared already) but never a pinned
		// one, which its exporter is still reading.
		run := -1
		for i := c.head; i < end; i++ {
			m := &c.meta[i]
			if m.state == slotLive {
				m.state = slotReleased
				c.done++
				s.held--
				s.heldBytes -= m.size
				if m.pins > 0 {
					s.pinned--
					s.pinnedBytes -= m.size
				}
				if m.lost == 0 {
					s.acct.exported++
				} else {
					// Counted as dropped when it was marked lost.
					s.lostHeld--
					if m.pins > 0 {
						s.lostPinned--
					}
				}
			}
			switch {
			case c.packed, c.packing, c.spooling:
			case m.pins == 0 && run < 0:
				run = i
			case m.pins > 0 && run >= 0:
				clear(c.recs[run:i])
				run = -1
			}
		}
		if run >= 0 && !c.packed && !c.packing && !c.spooling {
			clear(c.recs[run:end])
		}
		next, beyond := c.next, c.base+uint64(c.tail) > upTo
		s.finish(c)
		if beyond {
			break
		}
		c = next
	}
}

// finish moves c's head past finished slots and, when every slot of c is
// finished, takes c off the list wherever it is — its slots are reused at
// once, or at its last unpin — or, for the last chunk, rewinds it for
// reuse unless it is pinned.
func (s *store) finish(c *chunk) {
	for c.head < c.tail && c.meta[c.head].state != slotLive {
		c.head++
	}
	if c.done < c.tail {
		return
	}
	if c == s.last {
		if c.pins == 0 && !c.spooling {
			c.gen++
			c.head, c.tail, c.done = 0, 0, 0
			c.base = s.nextSeq
		}
		return
	}
	if c.prev == nil {
		s.first = c.next
	} else {
		c.prev.next = c.next
	}
	c.next.prev = c.prev // c is not the last: c.next != nil
	c.next, c.prev = nil, nil
	if c.pins > 0 || c.packing || c.spooling {
		c.unlinked = true // recycled by the last unpin, or when packing or spooling ends
	} else {
		s.recycle(c)
	}
}

// recycle takes back a chunk that holds no record: every slot was cleared
// when it died or was released.
func (s *store) recycle(c *chunk) {
	c.gen++
	c.head, c.tail, c.done, c.next, c.prev = 0, 0, 0, nil, nil
	if c.packed || c.unpackable {
		// Not kept: a packed chunk has no slots to reuse, and its bytes
		// may still back strings of records an exporter was given.
		c.packed, c.unpackable = false, false
		c.enc, c.offs, c.tidx, c.tmpls = nil, nil, nil, nil
		return
	}
	if s.spareSlots+len(c.recs) <= s.maxSpareSlots {
		s.spare = append(s.spare, c)
		s.spareSlots += len(c.recs)
	}
}

// lastSeq is the sequence number the most recently pushed record got, or
// false when nothing was ever pushed.
func (s *store) lastSeq() (uint64, bool) {
	if s.nextSeq == 0 {
		return 0, false
	}
	return s.nextSeq - 1, true
}

// gather copies the live records of c[from:to] into buf, for a batch with
// dead slots in it: an exporter gets one contiguous slice.
func gather(buf []sdklog.Record, c *chunk, from, to int) []sdklog.Record {
	buf = buf[:0]
	for i := from; i < to; i++ {
		if c.meta[i].state == slotLive {
			buf = append(buf, c.recs[i])
		}
	}
	return buf
}

// releaseStoreLocked releases the records every destination has finished,
// then gives their bytes back and wakes the OnEmit calls waiting for
// room. p.mu must be held.
func (p *Processor) releaseStoreLocked() {
	upTo := p.st.nextSeq
	for _, d := range p.dests {
		upTo = min(upTo, d.next)
	}
	if sp := p.spoolOn(); sp != nil {
		// A record leaves memory once every destination has finished it:
		// it needs not be written any more. The spooler may be reading
		// some of them (store.spooling): release leaves their slots to
		// endSpooling.
		p.advanceSpoolLocked()
		sp.releaseLocked(upTo)
	}
	p.st.release(upTo)
	p.releaseLocked()
	p.roomFreedLocked()
}

func (p *Processor) lastSeq() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.lastSeq()
}

// endSpooling ends the spooler's reading of c: it does what
// spooling held back — clearing the records of slots evicted, released or
// spilled meanwhile, rewinding or recycling c if it finished meanwhile.
func (s *store) endSpooling(c *chunk) {
	c.spooling = false
	s.spoolC = nil
	s.evictChunk = nil // eviction skipped the slots being written: let it look again
	if !c.packed && !c.packing {
		for i := range c.tail {
			if m := &c.meta[i]; m.state != slotLive && m.pins == 0 {
				c.recs[i] = sdklog.Record{}
			}
		}
	}
	switch {
	case c.unlinked:
		if c.pins == 0 && !c.packing {
			c.unlinked = false
			s.recycle(c)
		}
	case c.tail > 0 && c.done == c.tail:
		s.finish(c)
	}
}
