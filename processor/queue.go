package processor

import (
	"math"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// queue is a FIFO of cloned records stored in chunks of batch size.
//
// Chunks exist so that a batch is handed to the exporter without copying:
// the worker detaches the oldest chunk and passes its records slice to
// Export directly, then clears and recycles it. Records are stored by
// value, so the only per-record allocation on the emit path is the SDK's
// own Clone of attributes beyond the five it keeps inline.
//
// Eviction of the oldest record advances the head of the first chunk.
// Severity-aware eviction may remove a record from the middle; it leaves a
// tombstone (the slot is cleared at once so its memory is released) that
// compact squeezes out when the chunk is detached.
//
// queue is not safe for concurrent use: the Processor guards it with its
// mutex.
type queue struct {
	first, last   *chunk
	spare         []*chunk // cleared chunks kept for reuse
	spareSlots    int      // slots of the spare chunks
	chunkCap      int      // records per chunk: the batch size
	maxSpareSlots int
	len           int   // live records
	bytes         int64 // sum of live records' sizes
	nextSeq       uint64
}

type chunk struct {
	recs []sdklog.Record
	meta []slotMeta
	head int // first slot that may be live
	tail int // next free slot
	live int // live slots in [head, tail)
	next *chunk

	firstFail time.Time // when the export of this batch first failed; zero if never
	heldBytes int64     // the batch's bytes while it is in flight
}

type slotMeta struct {
	size int64
	seq  uint64 // arrival order, for ForceFlush's "everything queued before the call"
	sev  log.Severity
	dead bool
}

// inlineAttrs is the number of attributes sdklog.Record stores inline; a
// record with no more than that has no attribute slice to clone.
const inlineAttrs = 5

// slotBytes is what one queue slot costs: the record stored by value and
// its metadata.
const slotBytes = int64(unsafe.Sizeof(sdklog.Record{}) + unsafe.Sizeof(slotMeta{}))

// minChunkSlots is the number of slots a new chunk starts with; it doubles
// as records arrive, up to the batch size.
const minChunkSlots = 16

// newQueue returns a queue whose chunks hold up to chunkCap records, for a
// queue of at most maxLen records and maxBytes bytes.
//
// Slots are allocated as they are used: a chunk starts small and doubles
// up to chunkCap, so one record costs a few slots, not a batch of them,
// whatever the configured sizes. Cleared chunks are kept for reuse, so a
// steady or overflowing queue allocates nothing — but only up to as many
// slots as a full queue and the batch in flight use, and never more than a
// quarter of the byte budget in slots: the budget counts the slots that
// hold records (memguard.RecordSize includes the slot), and what it does
// not count stays bounded by it.
func newQueue(chunkCap, maxLen int, maxBytes int64) *queue {
	spare := maxLen
	if spare > math.MaxInt-2*chunkCap {
		spare = math.MaxInt
	} else {
		spare += 2 * chunkCap
	}
	if byBytes := maxBytes / (4 * slotBytes); int64(spare) > byBytes {
		spare = int(byBytes)
	}
	return &queue{chunkCap: chunkCap, maxSpareSlots: spare}
}

func (q *queue) newChunk() *chunk {
	if n := len(q.spare); n > 0 {
		c := q.spare[n-1]
		q.spare[n-1] = nil
		q.spare = q.spare[:n-1]
		q.spareSlots -= len(c.recs)
		return c
	}
	n := min(q.chunkCap, minChunkSlots)
	return &chunk{
		recs: make([]sdklog.Record, n),
		meta: make([]slotMeta, n),
	}
}

// grow doubles the slots of c, up to limit, keeping its records.
func (c *chunk) grow(limit int) {
	n := min(limit, max(2*len(c.recs), minChunkSlots))
	recs := make([]sdklog.Record, n)
	copy(recs, c.recs[:c.tail])
	meta := make([]slotMeta, n)
	copy(meta, c.meta[:c.tail])
	c.recs, c.meta = recs, meta
}

// recycle takes back a chunk that holds no live record. With dirty, the
// slots still hold exported records and are cleared, so the chunk pins no
// memory while it waits for reuse; a chunk emptied by eviction was cleared
// slot by slot already, which keeps a 300 KB memclr off OnEmit's path.
// meta needs no clearing: push overwrites a slot's meta whole.
func (q *queue) recycle(c *chunk, dirty bool) {
	if dirty {
		clear(c.recs[:c.tail])
	}
	c.head, c.tail, c.live, c.next = 0, 0, 0, nil
	c.firstFail = time.Time{}
	if q.spareSlots+len(c.recs) <= q.maxSpareSlots {
		q.spare = append(q.spare, c)
		q.spareSlots += len(c.recs)
	}
}

// push appends a copy of r, which must own its attributes beyond the
// inline ones: with no more attributes than that, a plain copy is a full
// clone. The caller has made room.
func (q *queue) push(r *sdklog.Record, size int64, sev log.Severity) {
	c := q.last
	if c != nil && c.tail == len(c.recs) && c.tail < q.chunkCap {
		c.grow(q.chunkCap)
	}
	if c == nil || c.tail == len(c.recs) {
		c = q.newChunk()
		if q.last == nil {
			q.first = c
		} else {
			q.last.next = c
		}
		q.last = c
	}
	c.recs[c.tail] = *r
	c.meta[c.tail] = slotMeta{size: size, seq: q.nextSeq, sev: sev}
	q.nextSeq++
	c.tail++
	c.live++
	q.len++
	q.bytes += size
}

// lastSeq is the sequence number the most recently pushed record got, or
// false when nothing was ever pushed.
func (q *queue) lastSeq() (uint64, bool) {
	if q.nextSeq == 0 {
		return 0, false
	}
	return q.nextSeq - 1, true
}

// headSeq is the sequence number of the oldest live record.
func (q *queue) headSeq() (uint64, bool) {
	for c := q.first; c != nil; c = c.next {
		for i := c.head; i < c.tail; i++ {
			if !c.meta[i].dead {
				return c.meta[i].seq, true
			}
		}
	}
	return 0, false
}

// evictOldest removes the oldest live record.
func (q *queue) evictOldest() {
	c := q.first
	for c.live == 0 { // a chunk with only tombstones left
		q.unlinkFirst(false)
		c = q.first
	}
	for c.meta[c.head].dead {
		c.head++
	}
	q.remove(c, c.head)
	c.head++
	q.dropEmptyFirst()
}

// evictOldestBelow removes the oldest live record with severity below sev.
// It reports false when there is none.
func (q *queue) evictOldestBelow(sev log.Severity) bool {
	for c := q.first; c != nil; c = c.next {
		for i := c.head; i < c.tail; i++ {
			m := &c.meta[i]
			if m.dead || m.sev >= sev {
				continue
			}
			q.remove(c, i)
			if i == c.head {
				c.head++
			} else {
				m.dead = true
			}
			q.dropEmptyFirst()
			return true
		}
	}
	return false
}

// remove clears slot i of c and updates the totals.
func (q *queue) remove(c *chunk, i int) {
	c.recs[i] = sdklog.Record{}
	c.live--
	q.len--
	q.bytes -= c.meta[i].size
}

// dropEmptyFirst unlinks leading chunks that hold nothing and can receive
// nothing more; an empty last chunk is rewound for reuse instead.
func (q *queue) dropEmptyFirst() {
	for c := q.first; c != nil && c.live == 0; c = q.first {
		if c == q.last {
			c.head, c.tail = 0, 0
			return
		}
		q.unlinkFirst(false)
	}
}

// unlinkFirst recycles the first chunk. dirty says whether its slots may
// still hold records (see recycle).
func (q *queue) unlinkFirst(dirty bool) {
	c := q.first
	q.first = c.next
	if q.first == nil {
		q.last = nil
	}
	q.recycle(c, dirty)
}

// detach removes the oldest chunk from the queue and returns it with its
// live records compacted into recs[:live] and their size in heldBytes. It
// returns nil when the queue is empty.
func (q *queue) detach() *chunk {
	q.dropEmptyFirst()
	c := q.first
	if c == nil || c.live == 0 {
		return nil
	}
	q.first = c.next
	if q.first == nil {
		q.last = nil
	}
	c.next = nil
	c.compact()
	c.heldBytes = 0
	for i := 0; i < c.live; i++ {
		c.heldBytes += c.meta[i].size
	}
	q.len -= c.live
	q.bytes -= c.heldBytes
	return c
}

// compact moves live records to the front of the chunk, preserving order,
// so that recs[:live] is the batch.
func (c *chunk) compact() {
	if c.head == 0 && c.tail == c.live {
		return
	}
	w := 0
	for i := c.head; i < c.tail; i++ {
		if c.meta[i].dead {
			continue
		}
		if w != i {
			c.recs[w] = c.recs[i]
			c.meta[w] = c.meta[i]
		}
		w++
	}
	clear(c.recs[w:c.tail])
	clear(c.meta[w:c.tail])
	c.head, c.tail = 0, w
}

// batch is the records to export: valid after detach.
func (c *chunk) batch() []sdklog.Record { return c.recs[:c.live] }

// requeue puts a detached chunk back at the head of the queue, for a batch
// whose export is retried: it is older than everything queued since.
func (q *queue) requeue(c *chunk) {
	c.next = q.first
	q.first = c
	if q.last == nil {
		q.last = c
	}
	q.len += c.live
	q.bytes += c.heldBytes
}

// drain removes every live record and returns how many there were.
func (q *queue) drain() int {
	n := q.len
	for q.first != nil {
		// The dropped records were not cleared one by one: clear them, so
		// spare chunks do not keep them alive.
		q.unlinkFirst(true)
	}
	q.len, q.bytes = 0, 0
	return n
}
