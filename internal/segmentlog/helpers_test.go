package segmentlog

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testClock is a clock a test moves; Log reads it under its mutex only.
type testClock struct{ t time.Time }

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 0)} }

func (c *testClock) now() time.Time { return c.t }

func opts(consumers ...string) Options {
	if len(consumers) == 0 {
		consumers = []string{"a"}
	}
	return Options{Consumers: consumers, SegmentSize: MinSegmentSize, MaxBytes: 64 * MinSegmentSize}
}

func mustOpen(t testing.TB, dir string, o Options) (*Log, Recovery) {
	t.Helper()
	l, rec, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, rec
}

func mustAppend(t testing.TB, l *Log, payloads ...[]byte) uint64 {
	t.Helper()
	first, _, err := l.Append(payloads...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return first
}

// payload returns a payload that names its record, of about n bytes.
func payload(seq uint64, n int) []byte {
	p := fmt.Appendf(nil, "record-%d|", seq)
	for len(p) < n {
		p = append(p, byte('a'+seq%26))
	}
	return p
}

// readAllFrom reads every record from from on.
func readAllFrom(t testing.TB, l *Log, from uint64) []Record {
	t.Helper()
	c := l.NewCursor(from)
	defer c.Close()
	var all []Record
	for {
		recs, err := c.Next(7, 1<<20)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
	}
}

func seqs(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

// segmentFiles returns the segment file names in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), segmentSuffix) {
			names = append(names, filepath.Join(dir, de.Name()))
		}
	}
	return names
}

// frameOffsets returns the offsets of the frames of a segment file written
// by the Log (no damage).
func frameOffsets(t testing.TB, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := parseSegmentName(filepath.Base(path))
	var offs []int64
	for _, e := range scanSegment(data, first, ^uint64(0)).entries {
		offs = append(offs, e.off)
	}
	return offs
}

// child re-executes the test binary in role, with env, and returns its
// combined output and error.
func child(t *testing.T, role string, env ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + role}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}
