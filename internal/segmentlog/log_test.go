package segmentlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	o := opts("a", "b")
	o.Now = clk.now
	l, rec := mustOpen(t, dir, o)
	if !reflect.DeepEqual(rec, Recovery{}) {
		t.Fatalf("Recovery of a new directory = %+v, want zero", rec)
	}
	var want [][]byte
	for seq := uint64(0); seq < 100; seq += 4 {
		batch := [][]byte{payload(seq, 300), payload(seq+1, 10), payload(seq+2, 0), payload(seq+3, 900)}
		clk.t = clk.t.Add(time.Second)
		if first := mustAppend(t, l, batch...); first != seq {
			t.Fatalf("Append returned first %d, want %d", first, seq)
		}
		want = append(want, batch...)
	}
	check := func(l *Log) {
		t.Helper()
		got := readAllFrom(t, l, 0)
		if len(got) != len(want) {
			t.Fatalf("read %d records, want %d", len(got), len(want))
		}
		for i, r := range got {
			if r.Seq != uint64(i) || !bytes.Equal(r.Payload, want[i]) {
				t.Fatalf("record %d = seq %d %q, want %q", i, r.Seq, r.Payload, want[i])
			}
			if wantT := time.Unix(1_700_000_000, 0).Add(time.Duration(i/4+1) * time.Second); !r.Time.Equal(wantT) {
				t.Fatalf("record %d time %v, want %v", i, r.Time, wantT)
			}
		}
	}
	check(l)
	st := l.Stats()
	if st.Segments < 3 || st.Records != 100 || st.First != 0 || st.Next != 100 {
		t.Fatalf("Stats = %+v, want several segments, 100 records, [0,100)", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if _, _, err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}

	l, rec = mustOpen(t, dir, o)
	defer l.Close()
	if rec.Records != 100 || rec.Damaged != 0 || rec.DiscardedBytes != 0 || rec.TruncatedBytes != 0 || rec.LedgerLost {
		t.Fatalf("Recovery after Close = %+v", rec)
	}
	check(l)
	// Numbering goes on, in a new segment.
	if first := mustAppend(t, l, []byte("after")); first != 100 {
		t.Fatalf("first after reopen = %d, want 100", first)
	}
}

func TestAckDeletesSegmentsEveryConsumerPassed(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, opts("a", "b"))
	defer l.Close()
	for seq := range uint64(40) {
		mustAppend(t, l, payload(seq, 1000))
	}
	files := segmentFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("%d segment files, want at least 5", len(files))
	}
	if err := l.Ack("a", 40); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir); len(got) != len(files) {
		t.Fatalf("after only a acked: %d files, want %d", len(got), len(files))
	}
	// b passes the second segment's last record: the first two go.
	second, _ := parseSegmentName(filepath.Base(files[2]))
	if err := l.Ack("b", second); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir); !slices.Equal(got, files[2:]) {
		t.Fatalf("after b acked %d: %v, want %v", second, got, files[2:])
	}
	if err := l.Ack("b", 40); err != nil {
		t.Fatal(err)
	}
	// The active segment stays: disk usage returns to one segment.
	if got := segmentFiles(t, dir); len(got) != 1 || got[0] != files[len(files)-1] {
		t.Fatalf("after all acked: %v, want only the active %s", got, files[len(files)-1])
	}
	st := l.Stats()
	if st.Records != 0 || st.Segments != 1 || st.Bytes > MinSegmentSize || !st.Oldest.IsZero() {
		t.Fatalf("Stats after all acked = %+v", st)
	}
	if err := l.Ack("c", 1); !errors.Is(err, ErrUnknownConsumer) {
		t.Fatalf("Ack of an unknown consumer = %v", err)
	}
	// A smaller position changes nothing.
	if err := l.Ack("a", 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Acked("a"); got != 40 {
		t.Fatalf("Acked(a) = %d after a smaller Ack, want 40", got)
	}
}

func TestAckedPositionsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, opts("a", "b"))
	for seq := range uint64(10) {
		mustAppend(t, l, payload(seq, 100))
	}
	if err := l.Ack("a", 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Ack("b", 3); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// c is new: it starts at the oldest record some consumer still needed
	// (b's position); b is gone from the options.
	l, _ = mustOpen(t, dir, opts("a", "c"))
	defer l.Close()
	if got, _ := l.Acked("a"); got != 7 {
		t.Fatalf("Acked(a) = %d, want 7", got)
	}
	if got, _ := l.Acked("c"); got != 3 {
		t.Fatalf("Acked(c) = %d, want 3", got)
	}
	if _, err := l.Acked("b"); !errors.Is(err, ErrUnknownConsumer) {
		t.Fatalf("Acked(b) = %v, want ErrUnknownConsumer", err)
	}
}

func TestSequenceSurvivesDeletingEverySegment(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, opts())
	for seq := range uint64(5) {
		mustAppend(t, l, payload(seq, 100))
	}
	if err := l.Ack("a", 5); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range segmentFiles(t, dir) {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	l, rec := mustOpen(t, dir, opts())
	defer l.Close()
	if rec.Damaged != 0 || rec.LedgerLost {
		t.Fatalf("Recovery = %+v, want nothing damaged", rec)
	}
	if first := mustAppend(t, l, []byte("x")); first != 5 {
		t.Fatalf("first after deleting every segment = %d, want 5", first)
	}
}

func TestCursorSeesRecordsAsTheyAreAppended(t *testing.T) {
	l, _ := mustOpen(t, t.TempDir(), opts())
	defer l.Close()
	c := l.NewCursor(0)
	defer c.Close()
	if recs, err := c.Next(10, 1<<20); err != nil || len(recs) != 0 {
		t.Fatalf("Next on an empty log = %v, %v", recs, err)
	}
	for seq := range uint64(20) {
		mustAppend(t, l, payload(seq, 500))
		recs, err := c.Next(10, 1<<20)
		if err != nil || len(recs) != 1 || recs[0].Seq != seq || !bytes.Equal(recs[0].Payload, payload(seq, 500)) {
			t.Fatalf("Next after appending %d = %v, %v", seq, seqs(recs), err)
		}
	}
	if c.Position() != 20 {
		t.Fatalf("Position = %d, want 20", c.Position())
	}
}

func TestNextLimits(t *testing.T) {
	l, _ := mustOpen(t, t.TempDir(), Options{Consumers: []string{"a"}})
	defer l.Close()
	for seq := range uint64(10) {
		mustAppend(t, l, payload(seq, 100))
	}
	c := l.NewCursor(2)
	defer c.Close()
	recs, _ := c.Next(3, 1<<20)
	if !slices.Equal(seqs(recs), []uint64{2, 3, 4}) {
		t.Fatalf("Next(3, 1MiB) = %v", seqs(recs))
	}
	recs, _ = c.Next(100, 250)
	if !slices.Equal(seqs(recs), []uint64{5, 6}) {
		t.Fatalf("Next(100, 250 bytes) = %v, want 2 records of 100 bytes", seqs(recs))
	}
	// The first record comes whatever its size.
	recs, _ = c.Next(100, 1)
	if !slices.Equal(seqs(recs), []uint64{7}) {
		t.Fatalf("Next(100, 1 byte) = %v, want one record", seqs(recs))
	}
}

func TestConcurrentAppendReadAck(t *testing.T) {
	o := opts("a", "b")
	o.MaxBytes = 1 << 30 // nothing removed: every record must arrive
	l, _ := mustOpen(t, t.TempDir(), o)
	defer l.Close()
	const n = 2000
	var wg sync.WaitGroup
	// A consumer waits on its channel only when it has read everything;
	// the appender signals after each Append, without blocking, as the
	// processor's writer will.
	wake := map[string]chan struct{}{"a": make(chan struct{}, 1), "b": make(chan struct{}, 1)}
	for name, ch := range wake {
		wg.Go(func() {
			c := l.NewCursor(0)
			defer c.Close()
			var next uint64
			for next < n {
				recs, err := c.Next(16, 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				if len(recs) == 0 {
					<-ch
					continue
				}
				for _, r := range recs {
					if r.Seq != next || !bytes.Equal(r.Payload, payload(next, 200)) {
						t.Errorf("%s: got seq %d, want %d", name, r.Seq, next)
						return
					}
					next++
				}
				if err := l.Ack(name, next); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for seq := range uint64(n) {
		mustAppend(t, l, payload(seq, 200))
		for _, ch := range wake {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		if seq%300 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	if st := l.Stats(); st.Segments != 1 || st.Records != 0 {
		t.Fatalf("Stats after every record was acknowledged = %+v", st)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Consumers: []string{""}},
		{Consumers: []string{"a", "a"}},
		{Consumers: []string{"a"}, SegmentSize: 100},
		{Consumers: []string{"a"}, SegmentSize: 1 << 20, MaxBytes: 1 << 20},
		{Consumers: []string{"a"}, MaxAge: -time.Second},
	} {
		if _, _, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

func TestOpenCreatesThePrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x", "spool")
	l, _ := mustOpen(t, dir, opts())
	mustAppend(t, l, []byte("x"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode = %v, %v; want 0700", fi.Mode(), err)
	}
	for _, name := range append(segmentFiles(t, dir), filepath.Join(dir, ledgerName), filepath.Join(dir, lockName)) {
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode = %v, %v; want 0600", name, fi.Mode(), err)
		}
	}
}

func TestSymlinksAreRefused(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(link, opts()); !errors.Is(err, ErrSymlink) {
		t.Fatalf("Open of a symlinked directory = %v, want ErrSymlink", err)
	}
	// A symlink where a segment should be.
	target := filepath.Join(base, "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(real, segmentName(0))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(real, opts()); !errors.Is(err, ErrSymlink) {
		t.Fatalf("Open with a symlinked segment = %v, want ErrSymlink", err)
	}
	// And where the ledger is.
	if err := os.Remove(filepath.Join(real, segmentName(0))); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(real, ledgerName)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(real, opts()); !errors.Is(err, ErrSymlink) {
		t.Fatalf("Open with a symlinked ledger = %v, want ErrSymlink", err)
	}
}
