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
// When the byte budget is what stops a record from being admitted, the
// store packs its oldest full chunks — encodes their records (OTLP
// protobuf, internal/recordcodec) into one buffer and lets the slots go —
// before anything is evicted, so the same budget holds several times more
// records through an outage. A packed record is decoded again when a
// destination takes it for a batch, by that destination's worker, outside
// the mutex. Healthy traffic, which never fills the budget, is never
// packed: OnEmit keeps its cost. See DESIGN.md, "Packed records".

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
// the last, which records are still pushed to), not packed, not known to
// be unpackable, and not being exported — or nil.
func (s *store) packCandidate() *chunk {
	c := s.packNext
	if c == nil || c.gen != s.packGen || c.unlinked {
		c = s.first
	}
	for ; c != nil && c != s.last; c = c.next {
		if !c.packed && !c.unpackable && c.pins == 0 && c.done < c.tail {
			s.packNext, s.packGen = c, c.gen
			return c
		}
	}
	s.packNext = s.last
	if s.last != nil {
		s.packGen = s.last.gen
	}
	return nil
}

// pack encodes the live records of c, which packCandidate returned, and
// releases its slots. Each live slot's size becomes what it costs packed:
// packedSlotBytes, its encoding and its share of the chunk's templates.
// The old sizes are left in s.packOld for the caller, which adjusts the
// destinations' pending bytes. pack returns the bytes it saved, or false
// (and marks c unpackable) when a record cannot be encoded faithfully, the
// chunk holds too many (resource, scope) pairs, or packing would save less
// than a quarter of the chunk's bytes.
func (s *store) pack(c *chunk) (saved int64, ok bool) {
	buf := s.packBuf[:0]
	offs := make([]uint32, c.tail+1)
	tidx := make([]uint8, c.tail)
	var tmpls []*sdklog.Record
	live := 0
	for i := range c.tail {
		offs[i] = uint32(len(buf))
		if c.meta[i].state != slotLive {
			continue
		}
		r := &c.recs[i]
		// The SDK has no setter for the dropped-attributes count: a
		// record that has one is not packed, so that none is lost.
		if r.DroppedAttributes() > 0 {
			return s.unpackable(c, buf)
		}
		t, ok := s.templateFor(&tmpls, r)
		if !ok {
			return s.unpackable(c, buf)
		}
		tidx[i] = t
		var err error
		if buf, err = recordcodec.Append(buf, r); err != nil || len(buf) > math.MaxUint32 {
			return s.unpackable(c, buf)
		}
		live++
	}
	offs[c.tail] = uint32(len(buf))
	if live == 0 {
		return s.unpackable(c, buf)
	}
	// The chunk's template pointers, shared out among the live slots.
	tmplShare := (int64(len(tmpls))*8 + int64(live) - 1) / int64(live)
	var before, after int64
	for i := range c.tail {
		if c.meta[i].state == slotLive {
			before += c.meta[i].size
			after += packedSlotBytes + int64(offs[i+1]-offs[i]) + tmplShare
		}
	}
	// Packing must pay for its copy: a chunk of large records (a body of
	// kilobytes costs about as much encoded as queued) is left as it is.
	if after*4 > before*3 {
		return s.unpackable(c, buf)
	}
	if cap(s.packOld) < c.tail {
		s.packOld = make([]int64, c.tail)
	}
	s.packOld = s.packOld[:c.tail]
	for i := range c.tail {
		m := &c.meta[i]
		s.packOld[i] = m.size
		if m.state == slotLive {
			m.size = packedSlotBytes + int64(offs[i+1]-offs[i]) + tmplShare
		}
	}
	c.enc = append([]byte(nil), buf...)
	c.offs, c.tidx, c.tmpls = offs, tidx, tmpls
	c.recs = nil
	c.packed = true
	s.packedLive = live
	s.heldBytes -= before - after
	if cap(buf) <= maxPackScratch {
		s.packBuf = buf[:0]
	} else {
		s.packBuf = nil
	}
	return before - after, true
}

// unpackable marks c as a chunk pack gives up on, and keeps buf.
func (s *store) unpackable(c *chunk, buf []byte) (int64, bool) {
	c.unpackable = true
	if cap(buf) <= maxPackScratch {
		s.packBuf = buf[:0]
	}
	return 0, false
}

// templateFor returns the index in tmpls of a template with r's resource
// and instrumentation scope, adding one if there is none, or false when
// tmpls is full. Templates come from the store's cache, so that chunks
// share them: a template is a copy of a record with its body and
// attributes cleared, so that it keeps no record's content alive, and
// costs a slot's size however many chunks use it. The cache is emptied
// when it is full; chunks keep the templates they use.
//
// Records with the same resource (the same *resource.Resource, which a
// LoggerProvider gives all its records) and an equal scope come from the
// same Logger — or from another provider sharing the resource, whose
// attribute limits could differ: Decode re-applies the template's limits,
// which have no effect on attributes that were limited already unless the
// two providers' limits differ.
func (s *store) templateFor(tmpls *[]*sdklog.Record, r *sdklog.Record) (uint8, bool) {
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
	for _, t := range s.tmpls {
		if same(t) {
			tmpl = t
			break
		}
	}
	if tmpl == nil {
		if len(s.tmpls) >= maxTemplates {
			s.tmpls = nil
		}
		t := *r
		t.SetBody(attribute.Value{})
		t.SetAttributes()
		t.SetEventName("")
		t.SetSeverityText("")
		tmpl = &t
		s.tmpls = append(s.tmpls, tmpl)
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
// shared budget) and there is a chunk to pack. It evicts nothing. p.mu
// must be held.
func (p *Processor) packForRoomLocked(size int64, b bounds, incoming bool) {
	for p.st.heldBytes+size > b.maxBytes || (incoming && !p.sharedFitsLocked(size)) {
		c := p.st.packCandidate()
		if c == nil {
			return
		}
		if _, ok := p.st.pack(c); !ok {
			continue
		}
		p.packedLocked(c)
	}
}

// packedLocked moves the destinations' pending bytes to the sizes pack
// gave c's live slots, and gives back to the shared budget what the store
// no longer holds. p.mu must be held.
func (p *Processor) packedLocked(c *chunk) {
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
	p.packedRecords += uint64(p.st.packedLive)
	p.releaseLocked()
}
