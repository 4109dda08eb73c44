package segmentlog

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fill returns a closed log in a new directory with n records of 1000
// bytes (four to a segment), and the segment file names.
func fill(t *testing.T, n uint64) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, opts())
	for seq := range n {
		mustAppend(t, l, payload(seq, 1000))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, segmentFiles(t, dir)
}

// reopen opens dir and returns the Recovery and the records read.
func reopen(t *testing.T, dir string) (Recovery, []Record) {
	t.Helper()
	l, rec := mustOpen(t, dir, opts())
	defer l.Close()
	recs := readAllFrom(t, l, 0)
	for _, r := range recs {
		if !bytes.Equal(r.Payload, payload(r.Seq, 1000)) {
			t.Fatalf("record %d has the wrong payload", r.Seq)
		}
	}
	return rec, recs
}

// without returns 0..n-1 without the numbers in skip.
func without(n uint64, skip ...uint64) []uint64 {
	var out []uint64
	for i := range n {
		if !slices.Contains(skip, i) {
			out = append(out, i)
		}
	}
	return out
}

func modify(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverTornTail(t *testing.T) {
	dir, files := fill(t, 20)
	last := files[len(files)-1]
	offs := frameOffsets(t, last)
	modify(t, last, func(b []byte) []byte { return b[:len(b)-10] })
	rec, recs := reopen(t, dir)
	lastSeq, _ := parseSegmentName(filepath.Base(last))
	lastSeq += uint64(len(offs)) - 1
	if !slices.Equal(seqs(recs), without(20, lastSeq)) {
		t.Fatalf("read %v", seqs(recs))
	}
	if rec.Damaged != 1 || rec.TruncatedBytes != frameSize(1000)-10 || rec.DiscardedBytes != 0 {
		t.Fatalf("Recovery = %+v, want 1 damaged (the ledger had it), the torn frame truncated", rec)
	}
	if fi, _ := os.Stat(last); fi.Size() != offs[len(offs)-1] {
		t.Fatalf("last segment is %d bytes, want it cut to %d", fi.Size(), offs[len(offs)-1])
	}
	// A second Open finds nothing more to repair.
	if rec, _ := reopen(t, dir); rec.TruncatedBytes != 0 || rec.Damaged != 1 {
		t.Fatalf("second Recovery = %+v", rec)
	}
}

func TestRecoverGarbageAppendedToEveryFile(t *testing.T) {
	dir, files := fill(t, 20)
	garbage := bytes.Repeat([]byte{0xA5, 0, 1, 2, 3}, 100)
	for _, f := range files {
		modify(t, f, func(b []byte) []byte { return append(b, garbage...) })
	}
	rec, recs := reopen(t, dir)
	if !slices.Equal(seqs(recs), without(20)) {
		t.Fatalf("read %v, want every record", seqs(recs))
	}
	n := int64(len(garbage))
	if rec.Damaged != 0 || rec.TruncatedBytes != n || rec.DiscardedBytes != n*int64(len(files)-1) {
		t.Fatalf("Recovery = %+v, want %d discarded and %d truncated", rec, n*int64(len(files)-1), n)
	}
}

func TestRecoverFlippedByte(t *testing.T) {
	for name, at := range map[string]int64{"length": 0, "checksum": 5, "sequence": 9, "time": 20, "payload": 500} {
		t.Run(name, func(t *testing.T) {
			dir, files := fill(t, 20)
			mid := files[1]
			offs := frameOffsets(t, mid)
			modify(t, mid, func(b []byte) []byte { b[offs[1]+at] ^= 0x10; return b })
			first, _ := parseSegmentName(filepath.Base(mid))
			rec, recs := reopen(t, dir)
			if !slices.Equal(seqs(recs), without(20, first+1)) {
				t.Fatalf("read %v, want all but %d", seqs(recs), first+1)
			}
			if rec.Damaged != 1 || rec.DiscardedBytes != frameSize(1000) || rec.TruncatedBytes != 0 {
				t.Fatalf("Recovery = %+v, want 1 damaged, one frame discarded", rec)
			}
		})
	}
}

func TestRecoverTruncatedMiddleSegment(t *testing.T) {
	dir, files := fill(t, 20)
	mid := files[2]
	offs := frameOffsets(t, mid)
	modify(t, mid, func(b []byte) []byte { return b[:offs[2]+100] })
	first, _ := parseSegmentName(filepath.Base(mid))
	lost := []uint64{}
	for i := 2; i < len(offs); i++ {
		lost = append(lost, first+uint64(i))
	}
	rec, recs := reopen(t, dir)
	if !slices.Equal(seqs(recs), without(20, lost...)) {
		t.Fatalf("read %v, want all but %v", seqs(recs), lost)
	}
	if rec.Damaged != uint64(len(lost)) || rec.DiscardedBytes != 100 {
		t.Fatalf("Recovery = %+v, want %d damaged, 100 bytes discarded", rec, len(lost))
	}
}

func TestRecoverDamagedSegmentHeader(t *testing.T) {
	dir, files := fill(t, 20)
	modify(t, files[0], func(b []byte) []byte { b[1] = 'x'; return b })
	rec, recs := reopen(t, dir)
	if !slices.Equal(seqs(recs), without(20)) || rec.Damaged != 0 || rec.DiscardedBytes != segmentHeaderSize {
		t.Fatalf("read %v, Recovery %+v; want every record, the header discarded", seqs(recs), rec)
	}
}

func TestRecoverWithoutTheLedger(t *testing.T) {
	for name, damage := range map[string]func(string) error{
		"missing": os.Remove,
		"damaged": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return os.WriteFile(p, b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := mustOpen(t, dir, opts("a", "b"))
			for seq := range uint64(20) {
				mustAppend(t, l, payload(seq, 1000))
			}
			if err := l.Ack("a", 15); err != nil {
				t.Fatal(err)
			}
			if err := l.Ack("b", 10); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			oldest, _ := parseSegmentName(filepath.Base(segmentFiles(t, dir)[0]))
			if err := damage(filepath.Join(dir, ledgerName)); err != nil {
				t.Fatal(err)
			}
			l, rec := mustOpen(t, dir, opts("a", "b"))
			defer l.Close()
			if !rec.LedgerLost || rec.Damaged != 0 {
				t.Fatalf("Recovery = %+v, want LedgerLost", rec)
			}
			// Both start again at the oldest record on disk: at least once.
			for _, c := range []string{"a", "b"} {
				if got, _ := l.Acked(c); got != oldest {
					t.Fatalf("Acked(%s) = %d, want the oldest record %d", c, got, oldest)
				}
			}
			if first := mustAppend(t, l, []byte("x")); first != 20 {
				t.Fatalf("next sequence from the segments = %d, want 20", first)
			}
		})
	}
}

func TestRecoverEmptyAndForeignFiles(t *testing.T) {
	dir, files := fill(t, 8)
	// An empty segment file (a crash right after creating it), a file
	// with a name that is not a segment's, a leftover ledger.tmp.
	empty := filepath.Join(dir, segmentName(8))
	for _, name := range []string{empty, filepath.Join(dir, "notes.txt"), filepath.Join(dir, ledgerTmpName)} {
		if err := os.WriteFile(name, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec, recs := reopen(t, dir)
	if !slices.Equal(seqs(recs), without(8)) || rec.Damaged != 0 || rec.Segments != len(files)+1 {
		t.Fatalf("read %v, Recovery %+v", seqs(recs), rec)
	}
	for name, want := range map[string]bool{empty: false, filepath.Join(dir, "notes.txt"): true, filepath.Join(dir, ledgerTmpName): false} {
		if _, err := os.Stat(name); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", name, err == nil, want)
		}
	}
}

func TestCursorSkipsARecordDamagedAfterOpen(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, opts())
	defer l.Close()
	for seq := range uint64(6) {
		mustAppend(t, l, payload(seq, 1000))
	}
	first := segmentFiles(t, dir)[0]
	offs := frameOffsets(t, first)
	modify(t, first, func(b []byte) []byte { b[offs[2]+frameHeaderSize+7] ^= 0xFF; return b })
	c := l.NewCursor(0)
	defer c.Close()
	var recs []Record
	var damaged []uint64
	for {
		got, err := c.Next(10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		damaged = append(damaged, c.Damaged()...)
		if len(got) == 0 && len(c.Damaged()) == 0 {
			break
		}
		recs = append(recs, got...)
	}
	if !slices.Equal(seqs(recs), without(6, 2)) || !slices.Equal(damaged, []uint64{2}) {
		t.Fatalf("read %v, damaged %v; want all but 2, and 2", seqs(recs), damaged)
	}
	if st := l.Stats(); st.DamagedReads != 1 {
		t.Fatalf("DamagedReads = %d, want 1", st.DamagedReads)
	}
}

// TestReadIntoReusesItsBuffer: Open reads every segment into one buffer;
// a file that fits it is read without growing it, and a smaller one after
// a larger one gets exactly its own bytes.
func TestReadIntoReusesItsBuffer(t *testing.T) {
	dir := t.TempDir()
	read := func(name string, data, buf []byte) []byte {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got, err := readInto(f, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes, want the file's %d", name, len(got), len(data))
		}
		return got
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	buf := read("large", large, nil)
	if cap(buf) > 2*len(large) {
		t.Errorf("reading %d bytes took a buffer of %d: it grew at the end of the file", len(large), cap(buf))
	}
	small := read("small", large[:1000], buf)
	if &small[0] != &buf[0] {
		t.Error("a file that fits the buffer was read into a new one")
	}
	if got := read("empty", nil, buf); len(got) != 0 {
		t.Errorf("an empty file read as %d bytes", len(got))
	}
}
