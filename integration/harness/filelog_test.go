package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doc renders one OTLP/JSON log request line holding records with the given
// sequence numbers, in the file exporter's layout.
func doc(seqs ...int) string {
	recs := make([]string, len(seqs))
	for i, s := range seqs {
		recs[i] = `{"timeUnixNano":"1","body":{"stringValue":"x"},"attributes":[{"key":"seq","value":{"intValue":"` +
			itoa(s) + `"}},{"key":"k","value":{"stringValue":"v"}}]}`
	}
	return `{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":{"name":"t"},"logRecords":[` +
		strings.Join(recs, ",") + `]}]}]}`
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "logs.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestCountFileCountsRecordsAndDuplicates(t *testing.T) {
	p := writeFile(t, doc(0, 1, 2)+"\n"+doc(2, 3)+"\n")
	fc, err := CountFile(p, "seq")
	require.NoError(t, err)
	assert.Equal(t, 2, fc.Lines)
	assert.Equal(t, 5, fc.Records)
	assert.Equal(t, 4, fc.Distinct)
	assert.Equal(t, 1, fc.Duplicates)
	assert.Equal(t, []int64{2}, fc.DuplicatedSeqs())
	assert.Equal(t, []int64{4}, fc.Missing(5))
	assert.Zero(t, fc.TornLines)
}

func TestCountFileTornLineAfterKill(t *testing.T) {
	// A SIGKILL left the first document without its newline (or cut it short);
	// the restarted collector appended a whole document to the same line.
	whole := doc(0, 1)
	cut := doc(2, 3)
	cut = cut[:strings.Index(cut, `"key":"k"`)] // record 2's seq made it, record 3 did not
	p := writeFile(t, whole+doc(4)+"\n"+cut+doc(5, 6)+"\n")
	fc, err := CountFile(p, "seq")
	require.NoError(t, err)
	assert.Equal(t, 2, fc.TornLines)
	assert.Equal(t, 1, fc.Salvaged, "seq 2 found by scanning the torn fragment")
	assert.Equal(t, []int64{3}, fc.Missing(7))
	assert.Equal(t, 6, fc.Distinct)
}

func TestCountFileMissingFileIsEmpty(t *testing.T) {
	fc, err := CountFile(filepath.Join(t.TempDir(), "absent.jsonl"), "seq")
	require.NoError(t, err)
	assert.Zero(t, fc.Records)
}

func TestCountFileRecordsWithoutSeq(t *testing.T) {
	p := writeFile(t, doc(0)+"\n")
	fc, err := CountFile(p, "other")
	require.NoError(t, err)
	assert.Equal(t, 1, fc.WithoutSeq)
	assert.Zero(t, fc.Distinct)
}

func TestCountFileRejectsEmptyKey(t *testing.T) {
	_, err := CountFile("whatever", "")
	require.ErrorIs(t, err, ErrSeqKeyEmpty)
}
