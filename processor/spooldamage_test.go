package processor

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/segmentlog"
)

// spoolFrame is where one payload of an undamaged spool is, read from the
// segment files as segmentlog writes them: an 8-byte header, then frames
// of "u32 length | u32 CRC-32C | u64 log position | i64 time | payload".
type spoolFrame struct {
	file    string
	off     int64 // of the frame
	size    int64 // of the frame, header included
	lsn     uint64
	records int
}

const frameHead = 24 // a frame's header

// spoolFrames lists the payloads of the undamaged spool in dir, in order.
func spoolFrames(t *testing.T, dir string) []spoolFrame {
	t.Helper()
	return readFrames(t, dir, func(payload []byte) int {
		h, _, err := parsePayloadHeader(payload, nil)
		require.NoError(t, err)
		return len(h.seqs)
	})
}

// readFrames lists the frames of the undamaged spool in dir, in order,
// with the number of records count finds in each payload.
func readFrames(t *testing.T, dir string, count func(payload []byte) int) []spoolFrame {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	var out []spoolFrame
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for off := int64(8); off+frameHead <= int64(len(b)); {
			n := int64(binary.LittleEndian.Uint32(b[off:]))
			out = append(out, spoolFrame{file: f, off: off, size: frameHead + n,
				lsn: binary.LittleEndian.Uint64(b[off+8:]), records: count(b[off+frameHead : off+frameHead+n])})
			off += frameHead + n
		}
	}
	return out
}

// rewriteFrame changes the payload of fr with change and gives the frame
// a valid checksum again: damage the checksum cannot see.
func rewriteFrame(t *testing.T, fr spoolFrame, change func(payload []byte)) {
	t.Helper()
	b, err := os.ReadFile(fr.file)
	require.NoError(t, err)
	frame := b[fr.off : fr.off+fr.size]
	change(frame[frameHead:])
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(frame[8:], crc32.MakeTable(crc32.Castagnoli)))
	require.NoError(t, os.WriteFile(fr.file, b, 0o600))
}

// flipInFrame flips a byte in the payload of fr: the checksum fails.
func flipInFrame(t *testing.T, fr spoolFrame) {
	t.Helper()
	b, err := os.ReadFile(fr.file)
	require.NoError(t, err)
	b[fr.off+frameHead+(fr.size-frameHead)/2] ^= 0x40
	require.NoError(t, os.WriteFile(fr.file, b, 0o600))
}

// spoolBacklog leaves n records in a spool in dir, in many payloads over
// several files, synced: the processor's only destination hangs, and a
// Shutdown whose context is cancelled leaves them all for the next start.
func spoolBacklog(t *testing.T, dir string, n int) {
	t.Helper()
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, WithSpool(dir, WithSpoolSegmentSize(16<<10)), WithExportMaxBatchSize(50),
		WithoutDropAlerts(), WithErrorHandler(func(error) {}))
	require.NoError(t, err)
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate)
	waitWorkers(p)
	require.Equal(t, uint64(n), p.Stats().Spool.LeftForNextStart)
}

// restartSpool starts a processor on dir, checks that it delivers every
// record it recovered and that the accounting holds, and returns its Stats
// at New and after Shutdown.
func restartSpool(t *testing.T, dir string, errs *errorLog) (atNew, final Stats) {
	t.Helper()
	exp := &spoolExporter{}
	p, err := New(exp, spoolOpts(dir, errs)...)
	require.NoError(t, err)
	atNew = p.Stats()
	requireInvariant(t, atNew)
	require.Equal(t, atNew.Spool.Recovered, atNew.Received)
	require.NoError(t, p.Shutdown(context.Background()))
	final = p.Stats()
	requireInvariant(t, final)
	require.Equal(t, final.Spool.Recovered, final.Exported)
	require.Equal(t, int(final.Exported), exp.count())
	return atNew, final
}

// TestSpoolDamagedCountsRecords: wherever damage is — at the head, in the
// middle, at the tail after a sync, in a header the checksum cannot see
// through — Stats.Spool.Damaged is the exact number of records it took,
// and every other record is recovered and delivered.
func TestSpoolDamagedCountsRecords(t *testing.T) {
	const n = 1000
	for _, tc := range []struct {
		name string
		// damage damages the spool and returns how many records it took.
		damage func(t *testing.T, dir string, frames []spoolFrame) int
	}{
		{"head", func(t *testing.T, _ string, frames []spoolFrame) int {
			flipInFrame(t, frames[0])
			return frames[0].records
		}},
		{"middle", func(t *testing.T, _ string, frames []spoolFrame) int {
			k := len(frames) / 2
			flipInFrame(t, frames[k])
			return frames[k].records
		}},
		{"two-payloads-in-two-files", func(t *testing.T, _ string, frames []spoolFrame) int {
			a, b := frames[1], frames[len(frames)-2]
			require.NotEqual(t, a.file, b.file)
			flipInFrame(t, a)
			flipInFrame(t, b)
			return a.records + b.records
		}},
		{"torn-tail", func(t *testing.T, _ string, frames []spoolFrame) int {
			last := frames[len(frames)-1]
			require.NoError(t, os.Truncate(last.file, last.off+last.size-7))
			return last.records
		}},
		{"whole-tail-file-lost", func(t *testing.T, _ string, frames []spoolFrame) int {
			last := frames[len(frames)-1]
			lost := 0
			for _, fr := range frames {
				if fr.file == last.file {
					lost += fr.records
				}
			}
			require.NoError(t, os.Remove(last.file))
			return lost
		}},
		{"undecodable-header", func(t *testing.T, _ string, frames []spoolFrame) int {
			k := len(frames) / 3
			rewriteFrame(t, frames[k], func(p []byte) { p[2] = 9 }) // a header version no one wrote
			return frames[k].records
		}},
		{"undecodable-last-header", func(t *testing.T, _ string, frames []spoolFrame) int {
			last := frames[len(frames)-1]
			rewriteFrame(t, last, func(p []byte) { p[2] = 9 })
			return last.records
		}},
		{"ledger-lost", func(t *testing.T, dir string, frames []spoolFrame) int {
			// Without the ledger only the middle can be counted: the
			// middle is damaged.
			require.NoError(t, os.Remove(filepath.Join(dir, "LEDGER")))
			k := len(frames) / 2
			flipInFrame(t, frames[k])
			return frames[k].records
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spoolBacklog(t, dir, n)
			frames := spoolFrames(t, dir)
			require.Greater(t, len(frames), 10, "many payloads")
			total := 0
			for _, fr := range frames {
				total += fr.records
			}
			require.Equal(t, n, total)
			lost := tc.damage(t, dir, frames)
			require.Positive(t, lost)

			var errs errorLog
			atNew, final := restartSpool(t, dir, &errs)
			require.Equal(t, uint64(lost), atNew.Spool.Damaged, "%+v", *atNew.Spool)
			require.Equal(t, uint64(n-lost), atNew.Spool.Recovered)
			require.Equal(t, uint64(lost), final.Spool.Damaged)
			require.Equal(t, 1, errs.matching("recovered with damage"))
			require.Equal(t, 1, errs.matching(" "+strconv.Itoa(lost)+" records lost"), "%v", errs.errs)

			// The damage is counted by the start that finds it; the next
			// start on the delivered spool finds none.
			errs = errorLog{}
			atNew, _ = restartSpool(t, dir, &errs)
			require.Zero(t, atNew.Spool.Damaged)
			require.Zero(t, atNew.Spool.Recovered)
			require.Zero(t, errs.matching("recovered with damage"))
		})
	}
}

// TestSpoolDamagedTailAfterRestart: records lost at the tail are counted
// once; the spool's running count goes on from the last payload that
// survived, so that the next start, on a spool that still holds the
// payloads before the loss, does not count them again.
func TestSpoolDamagedTailAfterRestart(t *testing.T) {
	const n = 600
	dir := t.TempDir()
	spoolBacklog(t, dir, n)
	frames := spoolFrames(t, dir)
	last := frames[len(frames)-1]
	require.NoError(t, os.Truncate(last.file, last.off+last.size-7))

	// A start whose destination hangs: it finds the loss, delivers
	// nothing, and leaves the rest, with records of its own, for the next.
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	s := p.Stats()
	require.Equal(t, uint64(last.records), s.Spool.Damaged)
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, n, n+100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
	close(hung.gate)
	waitWorkers(p)
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n-last.records+100), s.Spool.LeftForNextStart)

	errs = errorLog{}
	atNew, _ := restartSpool(t, dir, &errs)
	require.Zero(t, atNew.Spool.Damaged, "the loss was counted by the start that found it")
	require.Equal(t, uint64(n-last.records+100), atNew.Spool.Recovered)
}

// TestSpoolFirstFormat: a spool written with the first payload header
// (no marker, no running count) and a ledger without metadata still
// opens and delivers; a lost payload next to such payloads, whose records
// cannot be counted, counts as one record, and the report says "at
// least".
func TestSpoolFirstFormat(t *testing.T) {
	const n = 600
	src := t.TempDir()
	spoolBacklog(t, src, n)
	frames := spoolFrames(t, src)

	// The same payloads with the first format's header, in a spool of
	// their own.
	name := "0"
	{
		p, err := New(&spoolExporter{})
		require.NoError(t, err)
		name = p.dests[0].name
		require.NoError(t, p.Shutdown(context.Background()))
	}
	build := func(t *testing.T) string {
		dir := t.TempDir()
		in, _, err := segmentlog.Open(src, segmentlog.Options{Consumers: []string{name}, SegmentSize: 16 << 10})
		require.NoError(t, err)
		cur := in.NewCursor(0)
		out, _, err := segmentlog.Open(dir, segmentlog.Options{Consumers: []string{name}, SegmentSize: 16 << 10})
		require.NoError(t, err)
		for {
			recs, err := cur.Next(100, 1<<20)
			require.NoError(t, err)
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				h, body, err := parsePayloadHeader(r.Payload, nil)
				require.NoError(t, err)
				require.True(t, h.counted)
				old := append(appendPayloadSeqs(nil, h.seqs), body...)
				_, _, err = out.Append(old)
				require.NoError(t, err)
			}
		}
		require.NoError(t, cur.Close())
		require.NoError(t, in.Close())
		require.NoError(t, out.Close())
		return dir
	}

	t.Run("intact", func(t *testing.T) {
		dir := build(t)
		var errs errorLog
		atNew, final := restartSpool(t, dir, &errs)
		require.Zero(t, atNew.Spool.Damaged)
		require.Equal(t, uint64(n), final.Exported)
		require.Zero(t, errs.matching("recovered with damage"))
	})
	t.Run("a-payload-lost", func(t *testing.T) {
		dir := build(t)
		old := oldFrames(t, dir)
		require.Len(t, old, len(frames))
		k := len(old) / 2
		flipInFrame(t, old[k])
		var errs errorLog
		atNew, _ := restartSpool(t, dir, &errs)
		require.Equal(t, uint64(1), atNew.Spool.Damaged, "a lost payload of the first format counts as one")
		require.Equal(t, uint64(n-frames[k].records), atNew.Spool.Recovered)
		require.Equal(t, 1, errs.matching("at least 1 records lost"), "%v", errs.errs)
	})
}

// oldFrames is spoolFrames for a spool of first-format payloads: the
// records of each are not needed.
func oldFrames(t *testing.T, dir string) []spoolFrame {
	t.Helper()
	return readFrames(t, dir, func([]byte) int { return 0 })
}

// TestSpoolDamagedWhenReadBack: a payload damaged on disk after New (its
// checksum no longer matches when a destination reads it back) counts its
// records as damaged, once; they were received, so each destination that
// needed them drops them (export_failed), and the accounting holds and
// settles: nothing stays queued.
func TestSpoolDamagedWhenReadBack(t *testing.T) {
	const n = 1000
	dir := t.TempDir()
	spoolBacklog(t, dir, n)
	frames := spoolFrames(t, dir)
	var errs errorLog
	a, b := &spoolExporter{gate: make(chan struct{})}, &spoolExporter{gate: make(chan struct{})}
	// The backlog was written for one destination, named by position.
	// Batches of a payload or so: the first, read before the damage, does
	// not reach the damaged payload.
	p, err := NewWithDestinations([]Destination{{Exporter: a}, {Name: "second", Exporter: b}},
		spoolOpts(dir, &errs, WithExportMaxBatchSize(50))...)
	require.NoError(t, err)
	s := p.Stats()
	require.Equal(t, uint64(n), s.Destinations[0].Recovered)
	require.Equal(t, uint64(n), s.Destinations[1].Recovered, "a destination new to the spool starts at its oldest record")
	k := len(frames) / 2
	require.Greater(t, frames[k].lsn, uint64(2))
	flipInFrame(t, frames[k])
	close(a.gate)
	close(b.gate)
	settled := func() bool { s := p.Stats(); return s.Queued == 0 && s.InFlight == 0 }
	require.Eventually(t, settled, 10*time.Second, time.Millisecond)
	s = p.Stats()
	requireInvariant(t, s)
	lost := uint64(frames[k].records)
	require.Equal(t, lost, s.Spool.Damaged, "%v", s)
	require.Equal(t, lost, s.Dropped[DropExportFailed])
	require.Equal(t, uint64(n)-lost, s.Exported)
	for i, d := range s.Destinations {
		require.Equal(t, lost, d.Dropped[DropExportFailed], "destination %d", i)
		require.Equal(t, uint64(n)-lost, d.Exported, "destination %d", i)
	}
	require.Equal(t, n-int(lost), a.count())
	require.Equal(t, n-int(lost), b.count())
	require.NoError(t, p.Shutdown(context.Background()))
	requireInvariant(t, p.Stats())
}
