package processor

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPayloadHeader(t *testing.T) {
	for i, seqs := range [][]uint64{{0}, {7, 8, 9}, {1 << 40, 1<<40 + 3, 1<<40 + 4}, {5, 1000, 1001}} {
		before := uint64(i) * 1000
		b := appendPayloadHeader(nil, before, seqs)
		b = append(b, "records"...)
		h, rest, err := parsePayloadHeader(b, nil)
		require.NoError(t, err)
		require.Equal(t, payloadHeader{seqs: seqs, before: before, counted: true}, h)
		require.Equal(t, "records", string(rest))
		// The first format: no marker, no count.
		old := append(appendPayloadSeqs(nil, seqs), "records"...)
		h, rest, err = parsePayloadHeader(old, nil)
		require.NoError(t, err)
		require.Equal(t, payloadHeader{seqs: seqs}, h)
		require.Equal(t, "records", string(rest))
		e := newSpoolPayload(3, payloadHeader{seqs: seqs, before: before, counted: true})
		require.Equal(t, before, e.before)
		require.True(t, e.counted)
		require.Equal(t, seqs[0], e.first)
		require.Equal(t, seqs[len(seqs)-1]+1, e.end)
		var each []uint64
		e.each(0, e.end, func(s uint64) { each = append(each, s) })
		require.Equal(t, seqs, each)
		each = each[:0]
		e.each(seqs[0]+1, e.end, func(s uint64) { each = append(each, s) })
		require.Equal(t, seqs[1:], append([]uint64{}, each...))
	}
	for _, bad := range [][]byte{nil, {0x80}, {1}, {1, 0}, {1, 3, 1}, {1, 2, 0},
		{0, 0}, {0, 0, 1, 0, 1, 1}, {0, 0, 3, 0, 1, 1}, {0, 0, 2}, {0, 0, 2, 0x80}, {0, 0, 2, 5, 1, 0}} {
		_, _, err := parsePayloadHeader(bad, nil)
		require.ErrorIs(t, err, errBadHeader, "%x", bad)
	}
}

// TestSeqSet checks the range set against a map, through random adds and
// trims.
func TestSeqSet(t *testing.T) {
	rnd := newLockedRand(1)
	var s seqSet
	model := map[uint64]bool{}
	var low uint64
	for range 1500 {
		switch rnd.Intn(10) {
		case 0:
			low += uint64(rnd.Intn(20))
			s.trimBelow(low)
			for k := range model {
				if k < low {
					delete(model, k)
				}
			}
		default:
			seq := low + uint64(rnd.Intn(200))
			require.Equal(t, !model[seq], s.add(seq))
			model[seq] = true
		}
		for seq := low; seq < low+210; seq++ {
			require.Equal(t, model[seq], s.has(seq), "seq %d", seq)
		}
		require.True(t, slices.IsSortedFunc(s.r, func(a, b seqRange) int { return int(a.from) - int(b.from) }))
		for i := range s.r {
			require.Less(t, s.r[i].from, s.r[i].to)
			if i > 0 {
				require.Less(t, s.r[i-1].to, s.r[i].from, "ranges are disjoint and not adjacent")
			}
		}
	}
}
