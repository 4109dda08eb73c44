package segmentlog

import (
	"bytes"
	"errors"
	"testing"
)

// TestHeads: every live record's first n bytes, in order, across
// segments, whether records are close together (one read for several)
// or far apart (a read each), from a position, stopping when told.
func TestHeads(t *testing.T) {
	l, _ := mustOpen(t, t.TempDir(), Options{Consumers: []string{"a"}, SegmentSize: 256 << 10})
	defer l.Close()
	var want [][]byte
	for seq := range uint64(60) {
		size := 100 // small: many heads in one read
		if seq%3 == 0 {
			size = headGap + 5000 // far from the next head
		}
		if seq == 7 {
			size = 5 // shorter than n
		}
		p := payload(seq, size)
		want = append(want, p)
		mustAppend(t, l, p)
	}
	if st := l.Stats(); st.Segments < 2 {
		t.Fatalf("%d segments, want several", st.Segments)
	}
	const n = 16
	heads := func(from uint64, stopAt uint64) []uint64 {
		t.Helper()
		var seqs []uint64
		err := l.Heads(from, n, func(seq uint64, head []byte) bool {
			w := want[seq][:min(n, len(want[seq]))]
			if !bytes.Equal(head, w) {
				t.Errorf("record %d: head %q, want %q", seq, head, w)
			}
			seqs = append(seqs, seq)
			return seq != stopAt
		})
		if err != nil {
			t.Fatal(err)
		}
		return seqs
	}
	if got := heads(0, 1<<60); len(got) != 60 || got[0] != 0 || got[59] != 59 {
		t.Fatalf("heads of %v, want records 0 to 59", got)
	}
	if got := heads(25, 31); len(got) != 7 || got[0] != 25 || got[6] != 31 {
		t.Fatalf("from 25, stopping at 31: heads of %v", got)
	}
	if err := l.Ack("a", 40); err != nil {
		t.Fatal(err)
	}
	if got := heads(0, 1<<60); got[0] > 40 || got[len(got)-1] != 59 {
		t.Fatalf("after an ack of 40: heads of %v, want from 40 or before (the segment holding it) to 59", got)
	}
	l.Close()
	if err := l.Heads(0, n, func(uint64, []byte) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Heads after Close: %v, want ErrClosed", err)
	}
}
