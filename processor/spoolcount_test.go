package processor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSpoolMeta(t *testing.T) {
	m := spoolMeta{synced: 1 << 40, acked: []ackedCount{
		{name: nameHash("a"), count: 7, known: true},
		{name: nameHash("b"), count: 3, known: true},
	}}
	got, ok := decodeSpoolMeta(m.encode())
	require.True(t, ok)
	require.Equal(t, m, got)
	oldest, known := got.oldest()
	require.True(t, known)
	require.Equal(t, uint64(3), oldest)
	c, ok := got.of("a")
	require.True(t, ok)
	require.Equal(t, uint64(7), c)
	_, ok = got.of("c")
	require.False(t, ok, "a destination the metadata does not know")

	// A destination at a payload of the first format: the oldest count
	// is not known.
	m.acked[1].known = false
	got, ok = decodeSpoolMeta(m.encode())
	require.True(t, ok)
	_, known = got.oldest()
	require.False(t, known)
	_, known = spoolMeta{synced: 5}.oldest()
	require.False(t, known, "no destination")

	good := m.encode()
	for _, bad := range [][]byte{nil, {}, {2}, {1}, {1, 5}, {1, 5, 1}, {1, 5, 1, 0, 0, 0, 0, 2, 1},
		append(append([]byte{}, good...), 0), good[:len(good)-1]} {
		_, ok := decodeSpoolMeta(bad)
		require.False(t, ok, "%x", bad)
	}
}
