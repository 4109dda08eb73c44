package segmentlog

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// A segment file starts with an 8-byte header, magic then version, and
// holds frames after it. It is named by the sequence number of its first
// record, in fixed-width decimal, so that sorting the names sorts the
// segments.
const (
	segmentMagic      = "SLSG"
	segmentVersion    = 1
	segmentHeaderSize = 8
	segmentSuffix     = ".seg"
	segmentNameDigits = 20 // len of the decimal of math.MaxUint64
)

func segmentHeader() []byte {
	return []byte{segmentMagic[0], segmentMagic[1], segmentMagic[2], segmentMagic[3], segmentVersion, 0, 0, 0}
}

func segmentName(first uint64) string {
	return fmt.Sprintf("%0*d%s", segmentNameDigits, first, segmentSuffix)
}

// parseSegmentName returns the first sequence number a segment file name
// encodes, and whether name is a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != segmentNameDigits {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	return first, err == nil
}

// entry locates one whole record of a segment.
type entry struct {
	seq  uint64
	off  int64  // of the frame in the file
	n    uint32 // payload length
	time int64  // append time, Unix nanoseconds
}

func (e entry) end() int64 { return e.off + frameSize(int(e.n)) }

// segment is what the Log knows of one segment file. The Log's mutex
// guards it. The entries are the file's whole records in order, with
// strictly increasing sequence numbers; recovery leaves out damaged ones,
// so consecutive entries may skip numbers.
type segment struct {
	first   uint64 // from the name
	size    int64  // bytes of the file, garbage included
	entries []entry
	// w is the write handle of the active segment, and of sealed segments
	// not yet fsynced (Sync fsyncs and closes them); nil otherwise.
	w *os.File
	// dirty: written since its last fsync.
	dirty bool
	// synced is the size at the last fsync (for tests that simulate
	// losing what was not synced).
	synced int64
}

// next is the sequence number after the segment's last record, or its
// first if it has none.
func (s *segment) next() uint64 {
	if len(s.entries) == 0 {
		return s.first
	}
	return s.entries[len(s.entries)-1].seq + 1
}

// search returns the index of the first entry with seq >= seq.
func (s *segment) search(seq uint64) int {
	return sort.Search(len(s.entries), func(i int) bool { return s.entries[i].seq >= seq })
}
