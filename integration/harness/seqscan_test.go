package harness

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanFileAgreesWithCountFile(t *testing.T) {
	whole := doc(0, 1)
	cut := doc(2, 3)
	cut = cut[:strings.Index(cut, `"key":"k"`)] // record 2's seq made it, record 3 did not
	for name, content := range map[string]string{
		"whole lines":             doc(0, 1, 2) + "\n" + doc(2, 3) + "\n",
		"torn after a SIGKILL":    whole + doc(4) + "\n" + cut + doc(5, 6) + "\n",
		"last line cut":           doc(0, 1) + "\n" + cut,
		"last line whole":         doc(0, 1) + "\n" + doc(7),
		"string and bare numbers": strings.ReplaceAll(doc(8, 9), `"intValue":"9"`, `"intValue":9`) + "\n",
		"blank lines":             "\n" + doc(1) + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, content)
			want, err := CountFile(p, "seq")
			require.NoError(t, err)
			got, err := ScanFile(p, "seq")
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestScanFileStringValue(t *testing.T) {
	p := writeFile(t, strings.ReplaceAll(doc(3), `{"intValue":"3"}`, `{"stringValue":"3"}`)+"\n")
	fc, err := ScanFile(p, "seq")
	require.NoError(t, err)
	assert.Equal(t, map[int64]int{3: 1}, fc.Seqs)
}

func TestScanFileIgnoresOtherKeys(t *testing.T) {
	p := writeFile(t, doc(0, 1)+"\n")
	fc, err := ScanFile(p, "se")
	require.NoError(t, err)
	assert.Zero(t, fc.Records, `"se" is not "seq"`)
	assert.Zero(t, fc.WithoutSeq, "records without the attribute are not seen")
}

func TestScanFileMissingFileAndEmptyKey(t *testing.T) {
	fc, err := ScanFile(filepath.Join(t.TempDir(), "absent.jsonl"), "seq")
	require.NoError(t, err)
	assert.Zero(t, fc.Records)
	_, err = ScanFile("whatever", "")
	require.ErrorIs(t, err, ErrSeqKeyEmpty)
}
