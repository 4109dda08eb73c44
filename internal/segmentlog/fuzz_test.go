package segmentlog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover gives Open arbitrary bytes as two segment files and a
// ledger. Open must not panic; every record it then returns must be a
// frame of the input with a valid checksum, in increasing order, and as
// many as Recovery says.
func FuzzRecover(f *testing.F) {
	valid := func(first uint64, n int) []byte {
		b := segmentHeader()
		for i := range n {
			seq := first + uint64(i)
			b = appendFrame(b, seq, int64(seq)*1e9, payload(seq, 10+i*7))
		}
		return b
	}
	lg := ledger{first: 0, next: 9, acks: map[string]uint64{"a": 2}}.encode([]string{"a"})
	f.Add(valid(0, 5), valid(5, 4), lg)
	f.Add(valid(0, 5)[:60], valid(5, 4), []byte(nil))
	torn := valid(5, 4)
	f.Add(valid(0, 5), torn[:len(torn)-3], lg[:len(lg)-1])
	flipped := valid(0, 5)
	flipped[40] ^= 4
	f.Add(flipped, append(valid(5, 4), "garbage"...), lg)
	f.Add([]byte{}, []byte("SLSG\x01\x00\x00\x00"), []byte("SLLG"))
	f.Fuzz(func(t *testing.T, seg0, seg5, ledgerBytes []byte) {
		dir := t.TempDir()
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(segmentName(0), seg0)
		if len(seg5) > 0 {
			write(segmentName(5), seg5)
		}
		if len(ledgerBytes) > 0 {
			write(ledgerName, ledgerBytes)
		}
		l, rec, err := Open(dir, opts("a", "b"))
		if err != nil {
			return
		}
		defer l.Close()
		recs := readAllFrom(t, l, 0)
		if uint64(len(recs)) > rec.Records {
			t.Fatalf("read %d records, Recovery says %d", len(recs), rec.Records)
		}
		for i, r := range recs {
			if i > 0 && r.Seq <= recs[i-1].Seq {
				t.Fatalf("records out of order: %v", seqs(recs))
			}
			frame := appendFrame(nil, r.Seq, r.Time.UnixNano(), r.Payload)
			if !bytes.Contains(seg0, frame) && !bytes.Contains(seg5, frame) {
				t.Fatalf("record %d is not a frame of the input", r.Seq)
			}
		}
		if st := l.Stats(); st.Records != uint64(len(recs)) {
			t.Fatalf("Stats.Records = %d, read %d", st.Records, len(recs))
		}
		// What Open repaired opens again the same.
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, rec2, err := Open(dir, opts("a", "b"))
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer l2.Close()
		if rec2.TruncatedBytes != 0 || rec2.Records != uint64(len(recs)) {
			t.Fatalf("second Recovery = %+v after reading %d records", rec2, len(recs))
		}
	})
}
