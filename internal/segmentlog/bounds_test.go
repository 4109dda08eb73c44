package segmentlog

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMaxBytesRemovesTheOldestSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{Consumers: []string{"slow", "fast"}, SegmentSize: MinSegmentSize, MaxBytes: 4 * MinSegmentSize}
	l, _ := mustOpen(t, dir, o)
	defer l.Close()
	var removed []Removal
	var seq uint64
	for ; seq < 60; seq++ {
		_, r, err := l.Append(payload(seq, 1000))
		if err != nil {
			t.Fatal(err)
		}
		removed = append(removed, r...)
		if seq == 20 {
			if err := l.Ack("fast", 21); err != nil {
				t.Fatal(err)
			}
		}
		if st := l.Stats(); st.Bytes > o.MaxBytes {
			t.Fatalf("after %d: %d bytes on disk, more than MaxBytes %d", seq, st.Bytes, o.MaxBytes)
		}
	}
	if len(removed) == 0 {
		t.Fatal("nothing removed")
	}
	// The removals are contiguous from 0, and what is left starts where
	// they end.
	var next uint64
	var lostSlow, lostFast uint64
	for _, r := range removed {
		if r.From != next || r.To <= r.From || r.Reason != ReasonMaxBytes {
			t.Fatalf("removals %+v are not contiguous from 0 under max_bytes", removed)
		}
		next = r.To
		lostSlow += r.Lost(0)
		lostFast += r.Lost(21)
	}
	got := readAllFrom(t, l, 0)
	if len(got) == 0 || got[0].Seq != next || got[len(got)-1].Seq != 59 || uint64(len(got)) != 60-next {
		t.Fatalf("after removing [0,%d): read %v", next, seqs(got))
	}
	if lostSlow != next || lostFast != next-21 {
		t.Fatalf("lost: slow %d, fast %d; want %d and %d", lostSlow, lostFast, next, next-21)
	}
	if a, _ := l.Acked("slow"); a != next {
		t.Fatalf("slow's position after the removals = %d, want %d", a, next)
	}
}

func TestTooLarge(t *testing.T) {
	l, _ := mustOpen(t, t.TempDir(), opts())
	defer l.Close()
	mustAppend(t, l, []byte("kept"))
	if _, _, err := l.Append(make([]byte, l.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of MaxPayload+1 bytes = %v, want ErrTooLarge", err)
	}
	many := make([][]byte, 70)
	for i := range many {
		many[i] = make([]byte, MinSegmentSize-100)
	}
	if _, _, err := l.Append(many...); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of more than MaxBytes at once = %v, want ErrTooLarge", err)
	}
	if first := mustAppend(t, l, make([]byte, l.MaxPayload())); first != 1 {
		t.Fatalf("first after the refused Appends = %d, want 1: they must append nothing", first)
	}
	if got := seqs(readAllFrom(t, l, 0)); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("records = %v, want [0 1]", got)
	}
}

func TestMaxAge(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	o := opts("a")
	o.MaxAge = time.Minute
	o.Now = clk.now
	l, _ := mustOpen(t, dir, o)
	// Record i is appended at 10i s; each Append removes those more than
	// 60 s older than it.
	var removed []Removal
	for seq := range uint64(10) {
		_, r, err := l.Append(payload(seq, 100))
		if err != nil {
			t.Fatal(err)
		}
		if seq == 7 && !slices.Equal(r, []Removal{{From: 0, To: 1, Reason: ReasonMaxAge}}) {
			t.Fatalf("Append at 70 s removed %+v, want record 0 (appended at 0 s)", r)
		}
		removed = append(removed, r...)
		clk.t = clk.t.Add(10 * time.Second)
	}
	// Now, at 100 s, record 3 is 70 s old and 4 is 60 s old.
	_, r, err := l.Append()
	if err != nil {
		t.Fatal(err)
	}
	removed = append(removed, r...)
	want := []Removal{{0, 1, ReasonMaxAge}, {1, 2, ReasonMaxAge}, {2, 3, ReasonMaxAge}, {3, 4, ReasonMaxAge}}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %+v, want %+v", removed, want)
	}
	st := l.Stats()
	if st.First != 4 || st.Records != 6 || !st.Oldest.Equal(time.Unix(1_700_000_040, 0)) {
		t.Fatalf("Stats = %+v", st)
	}
	if got := readAllFrom(t, l, 0); got[0].Seq != 4 {
		t.Fatalf("first record read = %d, want 4", got[0].Seq)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Expired records do not come back, and Open expires more.
	clk.t = clk.t.Add(30 * time.Second)
	l, rec := mustOpen(t, dir, o)
	defer l.Close()
	if want := []Removal{{From: 4, To: 7, Reason: ReasonMaxAge}}; !slices.Equal(rec.Removed, want) {
		t.Fatalf("Recovery.Removed = %+v, want %+v", rec.Removed, want)
	}
	if got := seqs(readAllFrom(t, l, 0)); !slices.Equal(got, []uint64{7, 8, 9}) {
		t.Fatalf("records after reopen = %v, want [7 8 9]", got)
	}
}
