package processor

import (
	"fmt"
	"math"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
)

// Packing: a record queued as an sdklog.Record costs a slot of slotBytes
// whatever it holds, about five times what a small record takes encoded.
// Once the store holds half its byte bound, the packer goroutine packs
// its oldest full chunks — encodes their records (OTLP protobuf,
// internal/recordcodec) into one buffer and lets the slots go — so the
// same budget holds several times more records through an outage. It
// encodes without the mutex: OnEmit does not wait for it. When the budget
// is full all the same (the packer fell behind a flood), admission packs
// a chunk itself before it evicts anything. A packed record is decoded
// again when a destination takes it for a batch, by that destination's
// worker, outside the mutex. Healthy traffic, which stays well below the
// budget, is never packed. With a spool, the packer passes over what the
// spool holds, which spilling frees instead (spillableLocked). See
// DESIGN.md, "Packed records".

// packedSlotBytes is what a packed slot costs beside its encoded bytes:
// its metadata, its offset and its template index. The templates
// themselves (at most maxTemplates in the store's cache, a slot's size
// each) are not counted.
const packedSlotBytes = int64(unsafe.Sizeof(slotMeta{})) + 4 + 1

// minPackedBytes is the smallest a queued record can cost: a packed one
// with a few bytes of encoding. The default count bound is the byte
// budget divided by it, so that the byte bound is the one that applies.
const minPackedBytes = 32

// maxTemplates is the most distinct (resource, scope) pairs one packed
// chunk may hold; a chunk with more is not packed.
const maxTemplates = math.MaxUint8

// maxPackScratch is the largest encoding buffer kept between packs.
const maxPackScratch = 1 << 20

// packCandidate returns the oldest chunk that may be packed — full (not
// the last, which records are still pushed to), not packed or being
// packed, not known to be unpackable, and not being exported — or nil.
// Chunks whose records are all numbered in [spilling.from, spilling.to)
// are passed over, though not for good: the spool holds them, and
// spilling, not packing, makes room from them (see spillableLocked).
func (s *store) packCandidate(spilling seqRange) *chunk {
	c := s.packNext
	if c == nil || c.gen != s.packGen || c.unlinked {
		c = s.first
	}
	var passed *chunk
	for ; c != nil && c != s.last; c = c.next {
		if c.base >= spilling.from && c.base+uint64(c.tail) <= spilling.to {
			if passed == nil {
				passed = c
			}
			continue
		}
		if !c.packed && !c.packing && !c.unpackable && c.pins == 0 && c.done < c.tail && c != s.spoolC {
			if passed == nil {
				s.packNext, s.packGen = c, c.gen
			}
			return c
		}
	}
	if passed != nil {
		s.packNext, s.packGen = passed, passed.gen
		return nil
	}
	s.packNext = s.last
	if s.last != nil {
		s.packGen = s.last.gen
	}
	return nil
}

// encoding is a chunk's records encoded, ready to replace its slots.
type encoding struct {
	enc   []byte
	offs  []uint32 // slot i's bytes are enc[offs[i]:offs[i+1]]
	tidx  []uint8
	tmpls []*sdklog.Record
}

// encodeChunk encodes recs[from:len(recs)] but the slots skip reports
// (nil: none), with templates from cache, appending to buf. It reports
// false when a record cannot be packed: see pack. It reads recs and
// nothing else of the store, so the packer runs it without the mutex.
func encodeChunk(recs []sdklog.Record, from int, skip func(int) bool, cache *[]*sdklog.Record, buf []byte) (encoding, []byte, bool) {
	tail := len(recs)
	e := encoding{offs: make([]uint32, tail+1), tidx: make([]uint8, tail)}
	for i := range tail {
		e.offs[i] = uint32(len(buf))
		if i < from || (skip != nil && skip(i)) {
			continue
		}
		r := &recs[i]
		// The SDK has no setter for the dropped-attributes count: a
		// record that has one is not packed, so that none is lost.
		if r.DroppedAttributes() > 0 {
			return e, buf, false
		}
		t, ok := templateFor(cache, &e.tmpls, r)
		if !ok {
			return e, buf, false
		}
		e.tidx[i] = t
		var err error
		if buf, err = recordcodec.Append(buf, r); err != nil || len(buf) > math.MaxUint32 {
			return e, buf, false
		}
	}
	e.offs[tail] = uint32(len(buf))
	e.enc = append([]byte(nil), buf...)
	return e, buf, true
}

// commitPack gives c the encoding e of its live records, if it pays, and
// lets its slots go. Each live slot's size becomes what it costs packed:
// packedSlotBytes, its encoding and its share of the chunk's template
// pointers. The old sizes are left in s.packOld for the caller, which
// adjusts the destinations' pending bytes. It returns the number of
// records packed, or 0, and marks c unpackable, when c has no live record
// or packing would save less than a quarter of its bytes. c must not be
// pinned.
func (s *store) commitPack(c *chunk, e encoding) int {
	live := 0
	for i := range c.tail {
		if c.meta[i].state == slotLive {
			live++
		}
	}
	if live == 0 {
		c.unpackable = true
		return 0
	}
	tmplShare := (int64(len(e.tmpls))*8 + int64(live) - 1) / int64(live)
	var before, after int64
	for i := range c.tail {
		if c.meta[i].state == slotLive {
			before += c.meta[i].size
			after += packedSlotBytes + int64(e.offs[i+1]-e.offs[i]) + tmplShare
		}
	}
	// Packing must pay for its copy: a chunk of large records (a body of
	// kilobytes costs about as much encoded as queued) is left as it is.
	if after*4 > before*3 {
		c.unpackable = true
		return 0
	}
	if cap(s.packOld) < c.tail {
		s.packOld = make([]int64, c.tail)
	}
	s.packOld = s.packOld[:c.tail]
	for i := range c.tail {
		m := &c.meta[i]
		s.packOld[i] = m.size
		if m.state == slotLive {
			m.size = packedSlotBytes + int64(e.offs[i+1]-e.offs[i]) + tmplShare
		}
	}
	c.enc, c.offs, c.tidx, c.tmpls = e.enc, e.offs, e.tidx, e.tmpls
	c.recs = nil
	c.packed = true
	s.heldBytes -= before - after
	return live
}

// mayPay reports whether packing c could pay, as commitPack decides it,
// from a lower bound of its live records' encodings: their string bodies.
// A chunk of records whose bodies make most of their size (a body of
// kilobytes) is then marked unpackable without being encoded — an
// encoding that copies every body only to be thrown away, under the
// mutex when admission packs. The chunk's records must be in memory (not
// packed).
func (c *chunk) mayPay() bool {
	var before, after int64
	for i := c.head; i < c.tail; i++ {
		m := &c.meta[i]
		if m.state != slotLive {
			continue
		}
		before += m.size
		after += packedSlotBytes
		if body := c.recs[i].Body(); body.Type() == attribute.STRING {
			after += int64(len(body.AsString()))
		}
	}
	return after*4 <= before*3
}

// keepScratch returns buf emptied for the next encoding, or nil when it
// grew too large to keep.
func keepScratch(buf []byte) []byte {
	if cap(buf) > maxPackScratch {
		return nil
	}
	return buf[:0]
}

// templateFor returns the index in tmpls of a template with r's resource
// and instrumentation scope, adding one if there is none, or false when
// tmpls is full. Templates come from cache, so that chunks share them: a
// template is a copy of a record with its body and attributes cleared, so
// that it keeps no record's content alive, and costs a slot's size however
// many chunks use it. The cache is emptied when it is full; chunks keep
// the templates they use. The store has one cache, used under the mutex,
// and the packer goroutine another.
//
// Records with the same resource (the same *resource.Resource, which a
// LoggerProvider gives all its records) and an equal scope come from the
// same Logger — or from another provider sharing the resource, whose
// attribute limits could differ: Decode re-applies the template's limits,
// which have no effect on attributes that were limited already unless the
// two providers' limits differ.
func templateFor(cache, tmpls *[]*sdklog.Record, r *sdklog.Record) (uint8, bool) {
	res, scope := r.Resource(), r.InstrumentationScope()
	same := func(t *sdklog.Record) bool {
		if t.Resource() != res {
			return false
		}
		ts := t.InstrumentationScope()
		return ts.Name == scope.Name && ts.Version == scope.Version && ts.SchemaURL == scope.SchemaURL && ts.Attributes.Equals(&scope.Attributes)
	}
	for i, t := range *tmpls {
		if same(t) {
			return uint8(i), true
		}
	}
	if len(*tmpls) >= maxTemplates {
		return 0, false
	}
	var tmpl *sdklog.Record
	for _, t := range *cache {
		if same(t) {
			tmpl = t
			break
		}
	}
	if tmpl == nil {
		if len(*cache) >= maxTemplates {
			*cache = nil
		}
		t := *r
		t.SetBody(attribute.Value{})
		t.SetAttributes()
		t.SetEventName("")
		t.SetSeverityText("")
		tmpl = &t
		*cache = append(*cache, tmpl)
	}
	*tmpls = append(*tmpls, tmpl)
	return uint8(len(*tmpls) - 1), true
}

// unpack decodes the records of packed chunk c at the slots idx into buf.
// A record that does not decode — the bytes are the store's own, so only
// a defect could cause it — becomes its template with a body saying so,
// which keeps the counts exact; it is returned as an error too. The
// caller holds a pin on the slots; p.mu need not be held.
func unpack(buf []sdklog.Record, c *chunk, idx []int32) ([]sdklog.Record, error) {
	buf = buf[:0]
	var bad error
	for _, i := range idx {
		r := *c.tmpls[c.tidx[i]]
		if _, err := recordcodec.Decode(c.enc[c.offs[i]:c.offs[i+1]], &r); err != nil {
			r = *c.tmpls[c.tidx[i]]
			r.SetBody(attribute.StringValue("steadylog: a queued record could not be decoded"))
			if bad == nil {
				bad = fmt.Errorf("steadylog/processor: a packed record (sequence %d) could not be decoded: %w", c.base+uint64(i), err)
			}
		}
		buf = append(buf, r)
	}
	return buf, bad
}

// packForRoomLocked packs chunks, oldest first, while a record of size
// bytes does not fit the byte bound of b (or, for an incoming record, the
// shared budget) and there is a chunk to pack: what admission does when
// the packer fell behind. It evicts nothing. p.mu must be held.
func (p *Processor) packForRoomLocked(size int64, b bounds, incoming bool) {
	s := p.st
	for s.heldBytes+size > b.maxBytes || (incoming && !p.sharedFitsLocked(size)) {
		c := s.packCandidate(seqRange{})
		if c == nil {
			return
		}
		if !c.mayPay() {
			c.unpackable = true
			continue
		}
		skip := func(i int) bool { return c.meta[i].state != slotLive }
		e, buf, ok := encodeChunk(c.recs[:c.tail], c.head, skip, &s.tmpls, s.packBuf[:0])
		s.packBuf = keepScratch(buf)
		if !ok {
			c.unpackable = true
			continue
		}
		if n := s.commitPack(c, e); n > 0 {
			p.packedLocked(c, n)
		}
	}
}

// spillableLocked returns the records the packer passes over: those the
// spool holds and spilling may take out of memory. Packing them would
// cost an encoding, and a decoding at their export, to save memory that
// spilling frees whole at no cost; and when the destinations catch up
// first, they are exported as they are. p.mu must be held.
func (p *Processor) spillableLocked() seqRange {
	sp := p.spoolOn()
	if sp == nil || sp.degraded {
		return seqRange{}
	}
	return seqRange{from: sp.blockedBelow, to: sp.next}
}

// packedLocked moves the destinations' pending bytes to the sizes
// commitPack gave c's n live slots, gives back to the shared budget what the
// store no longer holds, and wakes an OnEmit waiting for room. p.mu must
// be held.
func (p *Processor) packedLocked(c *chunk, n int) {
	for _, d := range p.dests {
		if d.abandoned {
			continue
		}
		for i := range c.tail {
			if m := &c.meta[i]; m.state == slotLive && c.base+uint64(i) >= d.next {
				d.pendingBytes -= p.st.packOld[i] - m.size
			}
		}
	}
	p.packedRecords += uint64(n)
	p.releaseLocked()
	p.roomFreedLocked()
}

// packDueLocked reports whether the store holds half its byte bound (the
// bound kept under heap pressure, while shedding), when the packer packs.
// p.mu must be held.
func (p *Processor) packDueLocked() bool {
	bound := p.cfg.maxQueueBytes
	if p.heapShedding {
		bound = p.heapBound
	}
	return !p.closed && p.st.heldBytes >= bound/2
}

// wakePackerLocked wakes the packer goroutine when packing is due and it
// is not awake already. p.mu must be held.
func (p *Processor) wakePackerLocked() {
	if p.packAwake || !p.packDueLocked() {
		return
	}
	p.packAwake = true
	select {
	case p.packWake <- struct{}{}:
	default:
	}
}

// packLoop is the packer goroutine. Woken once the store holds half its
// byte bound, it packs the oldest full chunk that is not being exported,
// one at a time, until the store is below that again or no chunk is left
// to pack. It marks the chunk as packing under the mutex — its slots may
// still be evicted or released, but nothing clears or recycles its records
// until the packer is done reading them — encodes it without the mutex, and gives it the encoding under the mutex, unless a
// destination pinned it meanwhile (the encoding is then dropped, and the
// chunk is a candidate again). It runs no user code, so Shutdown waits for
// it: one chunk's encoding at most.
func (p *Processor) packLoop() {
	defer close(p.packDone)
	var cache []*sdklog.Record // the packer's templates: see templateFor
	var buf []byte
	for {
		select {
		case <-p.packWake:
		case <-p.packQuit:
			return
		}
		for {
			select {
			case <-p.packQuit:
				return
			default:
			}
			p.mu.Lock()
			var c *chunk
			if p.packDueLocked() {
				c = p.st.packCandidate(p.spillableLocked())
			}
			if c == nil {
				p.packAwake = false
				p.mu.Unlock()
				break
			}
			if !c.mayPay() {
				c.unpackable = true
				p.mu.Unlock()
				continue
			}
			c.packing = true
			recs, from := c.recs[:c.tail], c.head
			p.mu.Unlock()

			e, nbuf, ok := encodeChunk(recs, from, nil, &cache, buf[:0])
			buf = keepScratch(nbuf)

			p.mu.Lock()
			p.endPackingLocked(c, e, ok)
			p.mu.Unlock()
		}
	}
}

// endPackingLocked ends the packing of c: gives it encoding e if ok and c
// is still unpinned and on the list (commitPack charges only the slots
// still live), then does what packing held back — clearing the records of
// slots evicted or released meanwhile, recycling c if it finished
// meanwhile. p.mu must be held.
func (p *Processor) endPackingLocked(c *chunk, e encoding, ok bool) {
	s := p.st
	c.packing = false
	switch {
	case !ok:
		c.unpackable = true
	case c.pins == 0 && !c.unlinked:
		if n := s.commitPack(c, e); n > 0 {
			p.packedLocked(c, n)
		}
	}
	if !c.packed && !c.spooling {
		for i := range c.tail {
			if m := &c.meta[i]; m.state != slotLive && m.pins == 0 {
				c.recs[i] = sdklog.Record{}
			}
		}
	}
	if c.unlinked && c.pins == 0 && !c.spooling {
		c.unlinked = false
		s.recycle(c)
	}
}

// stopPacker ends the packer goroutine and waits for it.
func (p *Processor) stopPacker() {
	close(p.packQuit)
	<-p.packDone
}
