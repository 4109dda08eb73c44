package segmentlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// model is what a Log should hold, kept by plain maps. The test drives a
// Log and the model with the same random operations — appends, acks,
// reads, syncs, clean reopens, crashes, kills, and damage to the files —
// and compares them after each.
type model struct {
	t    *testing.T
	rng  *rand.Rand
	dir  string
	o    Options
	l    *Log
	curs map[string]*Cursor
	read map[string]uint64 // the seq after the last record each cursor returned

	recs  map[uint64][]byte // every record appended, by seq
	first uint64            // records below were removed by the bounds
	next  uint64
	acks  map[string]uint64
	lost  map[uint64]bool // records destroyed by damage

	syncedNext uint64 // next at the last Sync or Close
	meta       []byte // set by SetMeta
	syncedMeta []byte // meta at the last Sync or Close
}

func TestModel(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			m := &model{
				t:    t,
				rng:  rand.New(rand.NewPCG(uint64(seed), 7)),
				dir:  t.TempDir(),
				o:    Options{Consumers: []string{"a", "b"}, SegmentSize: MinSegmentSize, MaxBytes: 6 * MinSegmentSize},
				recs: map[uint64][]byte{},
				acks: map[string]uint64{},
				lost: map[uint64]bool{},
			}
			m.open()
			defer func() { m.closeCursors(); m.l.kill() }()
			for step := range 400 {
				m.step(step)
				m.check(step)
			}
		})
	}
}

func (m *model) open() Recovery {
	m.t.Helper()
	l, rec, err := Open(m.dir, m.o)
	if err != nil {
		m.t.Fatalf("Open: %v", err)
	}
	m.l = l
	m.curs = map[string]*Cursor{}
	m.read = map[string]uint64{}
	for _, c := range m.o.Consumers {
		a, _ := l.Acked(c)
		m.curs[c] = l.NewCursor(a)
		m.read[c] = a
	}
	return rec
}

func (m *model) closeCursors() {
	for _, c := range m.curs {
		c.Close()
	}
}

// low is the first record some consumer still needs.
func (m *model) low() uint64 {
	return max(m.first, min(m.acks["a"], m.acks["b"]))
}

// live returns the records the Log must hold, in order.
func (m *model) live() []uint64 {
	var out []uint64
	for s := m.low(); s < m.next; s++ {
		if _, ok := m.recs[s]; ok && !m.lost[s] {
			out = append(out, s)
		}
	}
	return out
}

func (m *model) step(step int) {
	t := m.t
	op := m.rng.IntN(100)
	switch {
	case op < 45: // append
		n := 1 + m.rng.IntN(3)
		var ps [][]byte
		for i := range n {
			ps = append(ps, payload(m.next+uint64(i), m.rng.IntN(1500)))
		}
		first, removed, err := m.l.Append(ps...)
		if err != nil {
			t.Fatalf("step %d: Append: %v", step, err)
		}
		if first != m.next {
			t.Fatalf("step %d: Append returned first %d, want %d", step, first, m.next)
		}
		for _, r := range removed {
			if r.From < m.first || r.To <= r.From || r.To > m.next {
				t.Fatalf("step %d: removal %+v outside [%d, %d)", step, r, m.first, m.next)
			}
			m.first = r.To
		}
		for i, p := range ps {
			m.recs[m.next+uint64(i)] = p
		}
		m.next += uint64(n)
		for c, a := range m.acks {
			m.acks[c] = max(a, m.first)
		}
	case op < 60: // ack what was read, or a little less
		c := m.o.Consumers[m.rng.IntN(2)]
		pos := m.read[c] - min(m.read[c], uint64(m.rng.IntN(3)))
		if err := m.l.Ack(c, pos); err != nil {
			t.Fatalf("step %d: Ack: %v", step, err)
		}
		m.acks[c] = max(m.acks[c], min(pos, m.next))
		if m.rng.IntN(3) == 0 { // metadata that no Sync writes yet
			m.setMeta(step)
		}
	case op < 80: // read
		name := m.o.Consumers[m.rng.IntN(2)]
		recs, err := m.curs[name].Next(1+m.rng.IntN(5), m.rng.IntN(3000))
		if err != nil {
			t.Fatalf("step %d: Next: %v", step, err)
		}
		prev := m.read[name]
		for _, r := range recs {
			if r.Seq < m.first || !bytes.Equal(r.Payload, m.recs[r.Seq]) {
				t.Fatalf("step %d: %s read record %d (first %d) with the wrong payload", step, name, r.Seq, m.first)
			}
			for s := prev; s < r.Seq; s++ {
				if s >= m.first && !m.lost[s] {
					t.Fatalf("step %d: %s skipped record %d (read %d after %d)", step, name, s, r.Seq, prev)
				}
			}
			prev = r.Seq + 1
		}
		m.read[name] = prev
	case op < 88: // sync
		if m.rng.IntN(2) == 0 {
			m.setMeta(step)
		}
		if err := m.l.Sync(); err != nil {
			t.Fatalf("step %d: Sync: %v", step, err)
		}
		m.syncedNext, m.syncedMeta = m.next, m.meta
	case op < 92: // clean close and reopen
		m.closeCursors()
		if err := m.l.Close(); err != nil {
			t.Fatalf("step %d: Close: %v", step, err)
		}
		m.syncedNext, m.syncedMeta = m.next, m.meta
		rec := m.open()
		m.checkReopen(step, rec, false)
	case op < 95: // crash: lose what was not synced
		m.closeCursors()
		m.l.crash()
		before := m.next
		m.next = m.syncedNext
		m.first = min(m.first, m.next)
		for s := range m.recs {
			if s >= m.next {
				delete(m.recs, s)
			}
		}
		rec := m.open()
		// A segment file started after the Sync survives, empty: the
		// numbering may go on after its name, never before syncedNext.
		if n := m.l.Stats().Next; n >= m.next && n <= before {
			m.next = n
		} else {
			t.Fatalf("step %d: next after a crash = %d, want within [%d, %d]", step, n, m.next, before)
		}
		m.checkReopen(step, rec, true)
	case op < 97: // kill: keep what was written
		m.closeCursors()
		m.l.kill()
		rec := m.open()
		m.syncedNext = m.next
		m.checkReopen(step, rec, true)
	default: // damage a file after a clean close
		m.closeCursors()
		if err := m.l.Close(); err != nil {
			t.Fatalf("step %d: Close: %v", step, err)
		}
		m.syncedNext, m.syncedMeta = m.next, m.meta
		m.damage()
		rec := m.open()
		m.checkReopen(step, rec, false)
	}
}

// setMeta gives the Log metadata naming the step.
func (m *model) setMeta(step int) {
	m.meta = fmt.Appendf(nil, "meta of step %d", step)
	if err := m.l.SetMeta(m.meta); err != nil {
		m.t.Fatalf("step %d: SetMeta: %v", step, err)
	}
}

// damage flips a byte, appends garbage, or cuts the tail of one segment.
func (m *model) damage() {
	files := segmentFiles(m.t, m.dir)
	if len(files) == 0 {
		return
	}
	path := files[m.rng.IntN(len(files))]
	data, err := os.ReadFile(path)
	if err != nil {
		m.t.Fatal(err)
	}
	switch m.rng.IntN(3) {
	case 0:
		if len(data) > 0 {
			data[m.rng.IntN(len(data))] ^= byte(1 + m.rng.IntN(255))
		}
	case 1:
		for range 1 + m.rng.IntN(200) {
			data = append(data, byte(m.rng.IntN(256)))
		}
	case 2:
		data = data[:m.rng.IntN(len(data)+1)]
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		m.t.Fatal(err)
	}
}

// checkReopen compares what a reopened Log holds with the model, and
// takes the positions the Log recovered. After a crash or kill the ledger
// may be older than the model: positions go back, never forward.
func (m *model) checkReopen(step int, rec Recovery, stale bool) {
	t := m.t
	// The metadata is what the last Sync wrote: the ledger is not
	// damaged here.
	if !bytes.Equal(rec.Meta, m.syncedMeta) || rec.LedgerLost {
		t.Fatalf("step %d: Recovery.Meta = %q, want %q (LedgerLost %t)", step, rec.Meta, m.syncedMeta, rec.LedgerLost)
	}
	m.meta = m.syncedMeta
	for _, r := range rec.Removed {
		if r.From < m.first || r.To > m.next {
			t.Fatalf("step %d: removal at Open %+v outside [%d, %d)", step, r, m.first, m.next)
		}
		m.first = r.To
	}
	want := m.live()
	got := readAllFrom(t, m.l, 0)
	survived := map[uint64]bool{}
	for _, r := range got {
		if !bytes.Equal(r.Payload, m.recs[r.Seq]) {
			t.Fatalf("step %d: recovered record %d has the wrong payload", step, r.Seq)
		}
		survived[r.Seq] = true
	}
	// A position may move past records that did not survive, and no
	// further.
	for _, c := range m.o.Consumers {
		a, _ := m.l.Acked(c)
		for s := max(m.acks[c], m.first); s < a; s++ {
			if survived[s] {
				t.Fatalf("step %d: %s recovered at %d, beyond its acknowledged %d and record %d", step, c, a, m.acks[c], s)
			}
		}
	}
	var lostBefore uint64 // earlier damage, in the range counted
	for s := range m.lost {
		if s >= m.low() && s < m.next {
			lostBefore++
		}
	}
	for _, c := range m.o.Consumers {
		m.acks[c], _ = m.l.Acked(c)
	}
	var missing uint64 // newly lost
	for _, s := range want {
		if !survived[s] {
			missing++
			m.lost[s] = true
		}
	}
	switch {
	case stale && missing != 0:
		t.Fatalf("step %d: %d records that were synced are missing after a crash", step, missing)
	case stale && lostBefore == 0 && rec.Damaged != 0:
		t.Fatalf("step %d: Damaged = %d after a crash with no damage", step, rec.Damaged)
	case !stale && lostBefore == 0 && rec.Damaged != missing:
		t.Fatalf("step %d: Damaged = %d, want %d (the records in [%d,%d) lost to damage) %+v", step, rec.Damaged, missing, m.low(), m.next, rec)
	case rec.Damaged < missing || rec.Damaged > missing+lostBefore:
		// Damage seen at an earlier Open is counted again while the file
		// that shows it is kept.
		t.Fatalf("step %d: Damaged = %d, want %d newly lost and at most %d lost before", step, rec.Damaged, missing, lostBefore)
	}
}

// check compares the Log's Stats and files with the model after each step.
func (m *model) check(step int) {
	t := m.t
	st := m.l.Stats()
	live := m.live()
	if st.Next != m.next || st.Records != uint64(len(live)) {
		t.Fatalf("step %d: Stats = %+v, want next %d and %d records (low %d)", step, st, m.next, len(live), m.low())
	}
	if len(live) > 0 && st.First != live[0] {
		t.Fatalf("step %d: Stats.First = %d, want %d", step, st.First, live[0])
	}
	var onDisk int64
	files := segmentFiles(t, m.dir)
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if st.Bytes != onDisk || onDisk > m.o.MaxBytes || st.Segments != len(files) {
		t.Fatalf("step %d: Stats says %d bytes in %d segments, %d bytes in %d files on disk, MaxBytes %d", step, st.Bytes, st.Segments, onDisk, len(files), m.o.MaxBytes)
	}
	// No file is kept that no consumer needs: each but the newest holds
	// a record at or after low.
	if len(m.lost) == 0 {
		for i := 0; i+1 < len(files); i++ {
			if end, _ := parseSegmentName(filepath.Base(files[i+1])); end <= m.low() {
				t.Fatalf("step %d: %s kept, though every record before %d is acknowledged or removed", step, files[i], m.low())
			}
		}
	}
	if slices.ContainsFunc(live, func(s uint64) bool { return s >= m.next }) {
		t.Fatalf("step %d: model holds records beyond next", step)
	}
}
