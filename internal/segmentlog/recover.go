package segmentlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Recovery reports what Open found. Recovery keeps every record that
// still decodes: a damaged stretch of a file — garbage, a flipped byte, a
// torn write — loses the records it overlaps and no others, because
// recovery resynchronises on the next frame whose checksum validates and
// whose sequence number is in order.
type Recovery struct {
	// Segments is the number of segment files found.
	Segments int
	// Records is the number of live records recovered.
	Records uint64
	// Damaged counts the records lost to damage: the gaps in the sequence
	// numbers of the records recovered, from the oldest live record to the
	// next sequence number the ledger had synced. Records appended after
	// the last Sync and lost in a crash are not counted: nothing proves
	// they existed.
	Damaged uint64
	// DiscardedBytes counts the bytes skipped in segment files because
	// they did not decode, and TruncatedBytes those cut from the end of
	// the newest segment (a torn write or appended garbage).
	DiscardedBytes, TruncatedBytes int64
	// LedgerLost is true when segments were found with no ledger, or with
	// one that did not decode: every consumer then starts again at the
	// oldest record, and records it had acknowledged come again.
	LedgerLost bool
	// Meta is the metadata the ledger held ([Log.SetMeta] before the last
	// Sync or Close that wrote it), empty if none was set; nil without a
	// ledger, with a damaged one (LedgerLost), or with one written before
	// metadata existed. The Log keeps it until SetMeta replaces it.
	Meta []byte
	// Removed lists the records the bounds removed at Open (Options.MaxAge,
	// or a smaller Options.MaxBytes than the files take).
	Removed []Removal
}

// scanResult is what scanSegment found in one file.
type scanResult struct {
	entries   []entry
	discarded int64 // bytes before or between whole records that did not decode
	goodEnd   int64 // offset after the last whole record (or the header)
}

// scanSegment finds the whole records of a segment file's contents data,
// accepting a frame only if its checksum validates, it ends within data,
// and its sequence number is in [lo, hi) and greater than the previous
// record's. Where a frame does not decode, it moves on one byte at a time.
func scanSegment(data []byte, lo, hi uint64) scanResult {
	var r scanResult
	size := int64(len(data))
	p := int64(0)
	if bytes.HasPrefix(data, segmentHeader()) {
		p = segmentHeaderSize
	}
	good := p
	for p+frameHeaderSize <= size {
		h := parseFrameHeader(data[p:])
		end := p + frameSize(int(h.n))
		if h.seq >= lo && h.seq < hi && end <= size && checkFrame(data[p:end]) {
			r.discarded += p - good
			r.entries = append(r.entries, entry{seq: h.seq, off: p, n: h.n, time: h.time})
			lo = h.seq + 1
			p, good = end, end
			continue
		}
		p++
	}
	r.goodEnd = good
	return r
}

// recover builds the Log's state from the directory, under the lock and
// before the Log is shared.
func (l *Log) recover() (Recovery, error) {
	var rec Recovery
	lg, found, lerr := readLedger(l.dir)
	if errors.Is(lerr, ErrSymlink) {
		return rec, lerr
	}
	ledgerOK := found && lerr == nil
	des, err := os.ReadDir(l.dir)
	if err != nil {
		return rec, fmt.Errorf("steadylog/segmentlog: reading %s: %w", l.dir, err)
	}
	var firsts []uint64
	for _, de := range des {
		first, ok := parseSegmentName(de.Name())
		if !ok {
			continue
		}
		if de.Type()&os.ModeSymlink != 0 {
			return rec, fmt.Errorf("%w: segment %s", ErrSymlink, filepath.Join(l.dir, de.Name()))
		}
		if !de.Type().IsRegular() {
			return rec, fmt.Errorf("steadylog/segmentlog: segment %s is not a regular file", filepath.Join(l.dir, de.Name()))
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	rec.Segments = len(firsts)
	var buf []byte // one segment's bytes at a time
	for i, first := range firsts {
		hi := uint64(math.MaxUint64)
		if i+1 < len(firsts) {
			hi = firsts[i+1]
		}
		s, r, err := l.scanFile(first, hi, &buf)
		if err != nil {
			return rec, err
		}
		rec.DiscardedBytes += r.discarded
		if tail := s.size - r.goodEnd; tail > 0 {
			if i == len(firsts)-1 {
				if err := l.truncateTail(first, r.goodEnd); err != nil {
					return rec, err
				}
				rec.TruncatedBytes = tail
				s.size = r.goodEnd
			} else {
				rec.DiscardedBytes += tail
			}
		}
		s.synced = s.size
		l.segs = append(l.segs, s)
		l.bytes += s.size
	}

	// The live range, and the damage within it.
	var base, end uint64
	if ledgerOK {
		base, end = lg.first, lg.next
	}
	if len(l.segs) > 0 {
		base = max(base, l.segs[0].first)
	}
	for _, s := range l.segs {
		// Only a record proves a number was used: a segment file with
		// none (created just before a crash) proves nothing was synced.
		if len(s.entries) > 0 {
			end = max(end, s.next())
		}
	}
	end = max(end, base)
	for _, s := range l.segs {
		i := s.search(base)
		rec.Records += uint64(len(s.entries) - i)
	}
	rec.Damaged = end - base - rec.Records
	l.first, l.next, l.ledgerNext = base, end, end
	if !ledgerOK {
		rec.LedgerLost = found || len(l.segs) > 0
	} else if lg.meta != nil {
		l.meta = lg.meta
		rec.Meta = slices.Clone(lg.meta)
	}
	for i, name := range l.cfg.consumers {
		ack, ok := lg.acks[name]
		if !ledgerOK || !ok {
			ack = base
		}
		l.acks[i] = min(max(ack, base), end)
	}
	if err := l.collect(); err != nil {
		return rec, err
	}
	rec.Removed = l.expire(l.cfg.now().UnixNano(), nil)
	for l.bytes > l.cfg.maxBytes && len(l.segs) > 0 {
		rec.Removed = l.removeOldest(ReasonMaxBytes, rec.Removed)
		if err := l.collect(); err != nil {
			return rec, err
		}
	}
	if err := l.collect(); err != nil {
		return rec, err
	}
	// Writing the ledger now also finds out whether the directory is
	// writable.
	_ = os.Remove(filepath.Join(l.dir, ledgerTmpName))
	l.ledgerChanges++
	l.dirChanges++
	if err := l.sync(); err != nil {
		return rec, err
	}
	return rec, nil
}

// scanFile reads the segment named by first into *buf (reused: the
// result does not refer to it) and scans it.
func (l *Log) scanFile(first, hi uint64, buf *[]byte) (*segment, scanResult, error) {
	name := filepath.Join(l.dir, segmentName(first))
	f, err := openNoFollow(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, scanResult{}, fmt.Errorf("steadylog/segmentlog: opening segment: %w", err)
	}
	defer f.Close()
	data, err := readInto(f, *buf)
	*buf = data
	if err != nil {
		return nil, scanResult{}, fmt.Errorf("steadylog/segmentlog: reading segment %s: %w", name, err)
	}
	r := scanSegment(data, first, hi)
	return &segment{first: first, size: int64(len(data)), entries: r.entries}, r, nil
}

// truncateTail cuts the newest segment after its last whole record.
func (l *Log) truncateTail(first uint64, size int64) error {
	name := filepath.Join(l.dir, segmentName(first))
	f, err := openNoFollow(name, os.O_WRONLY, 0)
	if err == nil {
		err = f.Truncate(size)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("steadylog/segmentlog: truncating the torn tail of %s: %w", name, err)
	}
	return nil
}

// readAll reads f from its start to its end.
func readAll(f *os.File) ([]byte, error) { return readInto(f, nil) }

// readInto reads f from its start to its end into buf, reused, and
// returns it. It makes room for one byte more than the file holds, so
// that the read that finds the end does not grow (allocate, clear and
// copy) a buffer that holds the whole file already, as
// bytes.Buffer.ReadFrom does: Open reads every segment (DESIGN.md, "The
// spool's storage layer").
func readInto(f *os.File, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 && fi.Size() < math.MaxInt32 {
		buf = slices.Grow(buf, int(fi.Size())+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(len(buf), 512)) // larger than Stat said
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
