package processor

import (
	"fmt"
	"time"
)

// DropReason says why a record was dropped instead of exported.
//
// The values are the `error.type` attribute values used on the
// otel.sdk.processor.log.processed metric, so a dashboard and Stats speak
// the same words.
type DropReason string

const (
	// DropQueueFull: the record was evicted (or refused) because the queue
	// held its maximum number of records.
	DropQueueFull DropReason = "queue_full"
	// DropByteLimit: the record was evicted (or refused) because admitting
	// the newest record would have exceeded the queue's byte budget.
	DropByteLimit DropReason = "byte_limit"
	// DropRecordTooLarge: the record alone is larger than the whole byte
	// budget. It is refused and evicts nothing.
	DropRecordTooLarge DropReason = "record_too_large"
	// DropAlreadyShutdown: the record was emitted after Shutdown began.
	DropAlreadyShutdown DropReason = "already_shutdown"
	// DropShutdown: the record was still queued (or in flight) when the
	// context given to Shutdown ended.
	DropShutdown DropReason = "shutdown"
	// DropExportFailed: the exporter failed to export the batch holding the
	// record, with an error that is not retried.
	DropExportFailed DropReason = "export_failed"
	// DropBlockTimeout: under the Block overflow policy, the record waited
	// for room until its timeout passed or the caller's context ended.
	DropBlockTimeout DropReason = "block_timeout"
	// DropHeapPressure: the Go heap was near the program's memory limit
	// (WithHeapMonitor) and the record did not fit the share of the byte
	// budget the processor keeps meanwhile.
	DropHeapPressure DropReason = "heap_pressure"
	// DropShed: Enabled answered false for the record while back-pressure
	// was raised (WithShedBelow), so it was never built.
	DropShed DropReason = "shed"
	// DropSpoolFull: the record was in the spool (WithSpool), not yet
	// exported by this destination, when the spool reached its size bound
	// (WithSpoolMaxBytes) and removed its oldest records.
	DropSpoolFull DropReason = "spool_full"
	// DropSpoolAge: the record was in the spool, not yet exported by this
	// destination, when it became older than WithSpoolMaxAge.
	DropSpoolAge DropReason = "spool_age"
)

// DropReasons lists every DropReason, in a stable order.
func DropReasons() []DropReason {
	return []DropReason{
		DropQueueFull, DropByteLimit, DropRecordTooLarge,
		DropAlreadyShutdown, DropShutdown, DropExportFailed, DropBlockTimeout,
		DropHeapPressure, DropShed, DropSpoolFull, DropSpoolAge,
	}
}

// reasonIndex maps a reason to its slot in the processor's counter array;
// the hot path counts into an array, not a map.
type reasonIndex int

const (
	idxQueueFull reasonIndex = iota
	idxByteLimit
	idxRecordTooLarge
	idxAlreadyShutdown
	idxShutdown
	idxExportFailed
	idxBlockTimeout
	idxHeapPressure
	idxShed
	idxSpoolFull
	idxSpoolAge
	numReasons
)

func (i reasonIndex) reason() DropReason { return DropReasons()[i] }

// Stats is a consistent snapshot of a Processor's accounting. Every record
// handed to OnEmit is in exactly one place, so at every moment
//
//	Received == Exported + TotalDropped() + Queued + InFlight
type Stats struct {
	// Received counts records passed to OnEmit (nil records excluded),
	// plus, with a spool (WithSpool), the records found in it at New
	// (Spool.Recovered), which this processor delivers.
	Received uint64
	// Exported counts records in batches the exporter accepted.
	Exported uint64
	// Dropped counts dropped records by reason. Reasons with no drops are
	// absent.
	Dropped map[DropReason]uint64
	// Queued is the number of records waiting in the queue whose outcome
	// is still open (see Destinations for the store-wide view). With a
	// spool, it includes the records that are in the spool only (spilled
	// from memory, or recovered at New) — also while a destination
	// exports them: InFlight counts only records exported from memory —
	// and, after Shutdown, those left in the spool for the next start
	// (Spool.LeftForNextStart).
	Queued int
	// QueuedBytes is the estimated heap size of the queued records (see
	// memguard.RecordSize), including records that one destination
	// dropped and the store keeps for another.
	QueuedBytes int64
	// InFlight is the number of records handed to the exporter whose
	// export has not finished yet.
	InFlight int
	// InFlightBytes is the estimated heap size of the in-flight records.
	// The byte budget (WithMaxQueueBytes) covers QueuedBytes +
	// InFlightBytes: everything the processor keeps alive.
	InFlightBytes int64
	// Packed counts records the store encoded to make room when the byte
	// budget was full, instead of evicting anything: a packed record costs
	// a fraction of its queued size and is decoded again for its export.
	// It is not an outcome; packed records are queued or in flight until
	// they are exported or dropped like any other.
	Packed uint64
	// Waiting is the number of OnEmit calls waiting for room under the
	// Block overflow policy. Their records are not received yet: each is
	// counted once its call has queued or dropped it.
	Waiting int
	// BackPressure is true from the moment the queue reaches its high
	// watermark (WithBackPressure) until it has stayed below the low one
	// for the hold time (WithBackPressureHold, 1s by default).
	BackPressure bool
	// BackPressureChanges counts the times back-pressure was raised or
	// cleared: two per episode, however often the queue crossed the
	// watermarks within it.
	BackPressureChanges uint64
	// Destinations is the accounting of each destination, in the order
	// they were given (one for a processor made by New with a plain
	// exporter).
	//
	// The fields above are the store-wide view, which counts each record
	// once: a record counts as exported when every destination exported
	// it, and as dropped, under the reason of its first drop, as soon as
	// one destination dropped it; until then it is queued, or in flight
	// while at least one destination is exporting it.
	Destinations []DestinationStats
	// Spool describes the durable spool (WithSpool); nil without one.
	Spool *SpoolStats
}

// SpoolStats describes the durable spool of a processor (WithSpool).
//
// The records an earlier start left in the spool were received by that
// start; this one counts them in Received so that the accounting identity
// (Received = Exported + dropped + Queued + InFlight) holds across the
// restart: those it finds as Recovered, and those the spool's bounds
// remove when New opens it (WithSpoolMaxAge, or a WithSpoolMaxBytes
// smaller than the files) as dropped under spool_age or spool_full —
// store-wide, and for each destination that had not acknowledged them,
// in its Received and Dropped. They are counted in records by the spool's
// running counts, like Damaged; when both bounds remove records at one
// New, all count as spool_age, and without the counts (no ledger, or a
// spool written by a version without them) a removed batch counts as one
// record. Records lost to damage are not received: Damaged counts them.
type SpoolStats struct {
	// Dir is the spool's directory.
	Dir string
	// Bytes is the size of the spool's files.
	Bytes int64
	// Records counts the records in the spool that some destination has
	// not finished yet.
	Records uint64
	// Oldest is when the oldest record in the spool was written; zero
	// when there is none.
	Oldest time.Time
	// Recovered counts the records found in the spool at New, which this
	// processor delivers; they are counted in Received (and, for each
	// destination that had not acknowledged them, in its Received and
	// Recovered).
	Recovered uint64
	// Resent counts the recovered records that a destination may have
	// been handed before the restart: a destination acknowledges the
	// spool a payload (a batch of records) at a time, so the records of
	// the payload at its acknowledged position come again if it had
	// exported some of them; all of its recovered records when the
	// spool's ledger of positions was lost. Delivery is at least once;
	// this bounds the duplicates from above.
	Resent uint64
	// Damaged counts the records lost to damage in the spool's files and
	// skipped — a corrupted or torn write, garbage, a lost file — found
	// at New. They are counted exactly: every payload (a batch) carries
	// the spool's running count of the records written before it, and
	// the spool's ledger the count at the oldest acknowledged position and
	// at the last sync, so a damaged stretch at the head, in the middle
	// or at the tail holds the difference between the counts around it.
	// Records written after the last sync and lost in a crash of the
	// machine are not counted: nothing proves they existed. Without the
	// ledger, only damage between two payloads that survived is counted.
	// Next to payloads written by a version without the running count, a
	// lost payload counts as one record (a lower bound; New's report says
	// "at least"). The records lost at New are not known and not counted
	// elsewhere (not in Received). A start counts the damage it finds;
	// damage in files a start did not deliver is found again by the next.
	// Damaged also counts, once, the records of a payload found damaged
	// when a destination reads it back after New (the disk changed under
	// the process): those were received, and each destination that still
	// needed them drops them as export_failed. Every record that still
	// decodes is delivered. New reports what it found to the error
	// handler.
	Damaged uint64
	// LeftForNextStart counts, after Shutdown, the records whose
	// outcome was still open, which stay in the spool and are delivered
	// by the next processor to open it. They stay counted in Queued, so
	// the accounting identity holds. A record one destination dropped
	// and another left counts as dropped, not here.
	LeftForNextStart uint64
	// Errors counts the spool's disk failures (failed writes, syncs,
	// each failed attempt to open it); Degraded is true while the spool is
	// not writing because of one, and LastError is the latest. While
	// degraded the processor works from memory, as it does without a
	// spool, and tries to write — or to open the spool — again every sync
	// interval. A spool opened after New holds no records of an earlier
	// run (a directory holding some is left for the next start, and
	// Degraded stays true), so it adds nothing to Recovered.
	Errors    uint64
	Degraded  bool
	LastError string
}

// TotalDropped returns the sum of Dropped over all reasons.
func (s Stats) TotalDropped() uint64 { return sumDropped(s.Dropped) }

// String formats the snapshot on one line, reasons in DropReasons order,
// then the spool's figures when there is one.
func (s Stats) String() string {
	out := fmt.Sprintf("received=%d exported=%d queued=%d queued_bytes=%d in_flight=%d dropped=%d",
		s.Received, s.Exported, s.Queued, s.QueuedBytes, s.InFlight, s.TotalDropped())
	for _, r := range DropReasons() {
		if n := s.Dropped[r]; n > 0 {
			out += fmt.Sprintf(" %s=%d", r, n)
		}
	}
	if sp := s.Spool; sp != nil {
		out += fmt.Sprintf(" spool_records=%d spool_bytes=%d", sp.Records, sp.Bytes)
		if sp.Recovered > 0 {
			out += fmt.Sprintf(" spool_recovered=%d spool_resent=%d", sp.Recovered, sp.Resent)
		}
		if sp.LeftForNextStart > 0 {
			out += fmt.Sprintf(" spool_left=%d", sp.LeftForNextStart)
		}
		if sp.Damaged > 0 {
			out += fmt.Sprintf(" spool_damaged=%d", sp.Damaged)
		}
		if sp.Degraded {
			out += fmt.Sprintf(" spool_degraded=%q", sp.LastError)
		}
	}
	return out
}

// Stats returns a consistent snapshot of the processor's accounting.
func (p *Processor) Stats() Stats {
	// Read before p.mu: the log's mutex may wait for a write to the disk,
	// which OnEmit must never wait for.
	logStats := p.sp.logStats()
	p.mu.Lock()
	defer p.mu.Unlock()
	queued, inFlight := p.st.undecided()
	s := Stats{
		Received:      p.received,
		Exported:      p.acct.exported,
		Queued:        queued,
		QueuedBytes:   p.st.heldBytes - p.st.pinnedBytes,
		InFlight:      inFlight,
		InFlightBytes: p.st.pinnedBytes,
		Packed:        p.packedRecords,
		Waiting:       p.waiting,

		BackPressure:        p.pressured,
		BackPressureChanges: p.pressureChanges,

		Dropped:      droppedMap(&p.acct.dropped),
		Destinations: make([]DestinationStats, len(p.dests)),
	}
	for i, d := range p.dests {
		s.Destinations[i] = d.statsLocked()
	}
	if sp := p.sp; sp != nil {
		s.Queued += sp.undecided
		s.Spool = sp.statsLocked(logStats)
	}
	return s
}

// RecordCounts returns the records exported and dropped so far. It lets
// code that only knows interfaces (such as the lifecycle package) report
// what a shutdown delivered.
func (p *Processor) RecordCounts() (exported, dropped uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.acct.dropped {
		dropped += n
	}
	return p.acct.exported, dropped
}

// RecordsLeft returns the records a Shutdown left in the spool for the
// next start (Stats.Spool.LeftForNextStart): 0 without a spool, and before
// Shutdown. It lets code that only knows interfaces (the lifecycle
// package's LeftCounter) report them.
func (p *Processor) RecordsLeft() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sp == nil {
		return 0
	}
	return p.sp.left
}

// sumDropped is the sum of the counts of m.
func sumDropped(m map[DropReason]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// droppedMap turns counters indexed by reasonIndex into a Dropped
// map: the reasons with drops, or nil.
func droppedMap(counts *[numReasons]uint64) map[DropReason]uint64 {
	var m map[DropReason]uint64
	for i, n := range counts {
		if n > 0 {
			if m == nil {
				m = make(map[DropReason]uint64, numReasons)
			}
			m[reasonIndex(i).reason()] = n
		}
	}
	return m
}
