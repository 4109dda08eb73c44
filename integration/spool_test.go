package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/integration/harness"
	"github.com/steadylog/steadylog/integration/internal/spoolrecords"
)

// spoolRecords is how many records the spool tests' child emits.
const spoolRecords = 3000

// spoolDamage is what a test does to the spool a crashed child left,
// before the restart.
type spoolDamage struct {
	name string
	// apply damages the files in dir. It reports whether the damage may
	// cost records (it may not when it only adds bytes).
	apply func(t *testing.T, dir string) (mayLose bool)
}

var spoolDamages = []spoolDamage{
	{"intact", func(*testing.T, string) bool { return false }},
	{"garbage-appended-to-every-file", func(t *testing.T, dir string) bool {
		for _, f := range spoolFiles(t, dir, "") {
			appendTo(t, f, []byte("\x00\xffgarbage that is no frame\x13\x37"))
		}
		return false
	}},
	{"flipped-byte", func(t *testing.T, dir string) bool {
		seg := spoolFiles(t, dir, ".seg")
		require.NotEmpty(t, seg)
		b, err := os.ReadFile(seg[0])
		require.NoError(t, err)
		b[len(b)/2] ^= 0x40
		require.NoError(t, os.WriteFile(seg[0], b, 0o600))
		return true
	}},
	{"torn-write", func(t *testing.T, dir string) bool {
		seg := spoolFiles(t, dir, ".seg")
		require.NotEmpty(t, seg)
		last := seg[len(seg)-1]
		fi, err := os.Stat(last)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(last, fi.Size()-7))
		return true
	}},
}

// TestSpoolSurvivesSIGKILL is a crash: a child process whose backend
// hangs emits records into a spool, says when every one is on disk, and is
// SIGKILLed. The spool is damaged in one of several ways, and a second
// child, on the same directory, delivers to the real Collector: every
// record the damage did not touch arrives identical to what was emitted
// (body, attributes, severity, scope, resource), and the records a damage
// costs are counted, exactly, as damaged by the restarted processor.
func TestSpoolSurvivesSIGKILL(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	child := harness.BuildGo(t, filepath.Join(repoRoot(t), "integration"), "./internal/spoolchild")
	for _, damage := range spoolDamages {
		t.Run(damage.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := filepath.Join(t.TempDir(), "spool")

			proc := startSpoolChild(t, child, "emit", dir, hungBackend(t))
			accepted, err := harness.WaitForLine(ctx, proc.logPath, "accepted ", proc.Done())
			require.NoError(t, err, "child:\n%s", proc.LogTail(20))
			assert.Equal(t, "accepted "+strconv.Itoa(spoolRecords), accepted)
			require.NoError(t, proc.Kill())
			<-proc.Done()

			mayLose := damage.apply(t, dir)

			col := harness.StartCollector(t, otelcol)
			st := deliverSpool(ctx, t, child, dir, col.HTTPAddr)
			require.NoError(t, col.Terminate(), "a graceful stop flushes the file exporter")
			recs, err := harness.ReadRecords(col.FilePath)
			require.NoError(t, err)

			seen := checkSpoolRecords(t, recs)
			missing := spoolRecords - len(seen)
			t.Logf("%s: %d of %d records arrived, %d missing; restarted child's stats: %s",
				damage.name, len(seen), spoolRecords, missing, st.raw)
			assert.Equal(t, uint64(spoolRecords-missing), st.spool("recovered"), "records recovered are the records that arrived")
			// Damaged counts the records lost to the damage, exactly:
			// the child synced every record before it was killed.
			assert.Equal(t, uint64(missing), st.spool("damaged"), "the records lost are the records counted as damaged")
			if !mayLose {
				assert.Zero(t, missing)
				assert.Zero(t, st.spool("damaged"))
			} else {
				assert.Positive(t, missing, "the damage costs records")
			}
			assert.Equal(t, st.count("received"), st.count("exported"), "the restarted child exported all it recovered")
		})
	}
}

// TestSpoolPodStop is a pod's stop: SIGTERM with a 1 s grace period while
// the backend is down. What the shutdown cannot deliver stays on disk, and
// the report says how much; a restart against a live Collector delivers
// every record.
func TestSpoolPodStop(t *testing.T) {
	otelcol := harness.OtelcolBin(t)
	child := harness.BuildGo(t, filepath.Join(repoRoot(t), "integration"), "./internal/spoolchild")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "spool")

	proc := startSpoolChild(t, child, "emit", dir, deadBackend(t), "-grace", "1s")
	_, err := harness.WaitForLine(ctx, proc.logPath, "accepted ", proc.Done())
	require.NoError(t, err, "child:\n%s", proc.LogTail(20))
	require.NoError(t, proc.Signal(syscall.SIGTERM))
	select {
	case <-proc.Done():
	case <-ctx.Done():
		t.Fatalf("child did not exit after SIGTERM:\n%s", proc.LogTail(20))
	}
	require.NoError(t, proc.ExitErr(), "child:\n%s", proc.LogTail(20))
	report, err := harness.WaitForLine(ctx, proc.logPath, "report ", proc.Done())
	require.NoError(t, err)
	t.Log(report)
	assert.Contains(t, report, fmt.Sprintf(", %d left for next start", spoolRecords), "the shutdown report says what stays on disk")
	left, err := harness.WaitForLine(ctx, proc.logPath, "left ", proc.Done())
	require.NoError(t, err)
	assert.Equal(t, "left "+strconv.Itoa(spoolRecords), left, "every record is left on disk for the next start")
	final, err := harness.WaitForLine(ctx, proc.logPath, "final ", proc.Done())
	require.NoError(t, err)
	first := parseSpoolStats(t, strings.TrimPrefix(final, "final "))
	assert.Zero(t, first.dropped(), "nothing is dropped: it stays on disk")

	col := harness.StartCollector(t, otelcol)
	st := deliverSpool(ctx, t, child, dir, col.HTTPAddr)
	require.NoError(t, col.Terminate())
	recs, err := harness.ReadRecords(col.FilePath)
	require.NoError(t, err)
	seen := checkSpoolRecords(t, recs)
	assert.Len(t, seen, spoolRecords, "every record arrives after the restart")
	assert.Equal(t, uint64(spoolRecords), st.spool("recovered"))
	assert.Zero(t, st.spool("damaged"))
}

// spoolChild is a running spoolchild.
type spoolChild struct {
	*harness.Process
	logPath string
}

func startSpoolChild(t *testing.T, bin, mode, dir, logs string, extra ...string) spoolChild {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "spoolchild-"+mode+".log")
	args := append([]string{"-mode", mode, "-dir", dir, "-logs", logs, "-n", strconv.Itoa(spoolRecords)}, extra...)
	proc, err := harness.StartProcess(t, "spoolchild-"+mode, logPath, bin, args...)
	require.NoError(t, err)
	return spoolChild{proc, logPath}
}

// deliverSpool runs a child that delivers the spool in dir to logs and
// returns its final stats.
func deliverSpool(ctx context.Context, t *testing.T, bin, dir, logs string) spoolStats {
	t.Helper()
	proc := startSpoolChild(t, bin, "deliver", dir, logs)
	select {
	case <-proc.Done():
	case <-ctx.Done():
		t.Fatalf("delivering child did not exit:\n%s", proc.LogTail(20))
	}
	require.NoError(t, proc.ExitErr(), "delivering child:\n%s", proc.LogTail(20))
	final, err := harness.WaitForLine(ctx, proc.logPath, "final ", proc.Done())
	require.NoError(t, err)
	return parseSpoolStats(t, strings.TrimPrefix(final, "final "))
}

// checkSpoolRecords checks every record against what was emitted, and
// returns the sequence numbers seen.
func checkSpoolRecords(t *testing.T, recs []harness.FileRecord) map[int]int {
	t.Helper()
	seen := make(map[int]int)
	for _, r := range recs {
		seq, ok := r.Attributes[spoolrecords.SeqKey].(int64)
		if !assert.True(t, ok, "a record without its sequence number: %+v", r) {
			continue
		}
		require.Less(t, seq, int64(spoolRecords))
		seen[int(seq)]++
		if diffs := spoolrecords.Diff(int(seq), r); len(diffs) > 0 {
			t.Errorf("record %d is not what was emitted: %s", seq, strings.Join(diffs, "; "))
		}
	}
	return seen
}

// spoolStats is a Stats JSON the child printed.
type spoolStats struct {
	raw string
	m   map[string]any
}

func parseSpoolStats(t *testing.T, s string) spoolStats {
	t.Helper()
	st := spoolStats{raw: s}
	require.NoError(t, json.Unmarshal([]byte(s), &st.m), "stats: %s", s)
	return st
}

func (s spoolStats) count(key string) uint64 {
	f, _ := s.m[key].(float64)
	return uint64(f)
}

func (s spoolStats) dropped() uint64 {
	var n uint64
	d, _ := s.m["dropped"].(map[string]any)
	for _, v := range d {
		f, _ := v.(float64)
		n += uint64(f)
	}
	return n
}

func (s spoolStats) spool(key string) uint64 {
	sp, _ := s.m["spool"].(map[string]any)
	f, _ := sp[key].(float64)
	return uint64(f)
}

// spoolFiles lists the regular files in dir whose name ends in suffix,
// sorted by name.
func spoolFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func appendTo(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, errors.Join(err, f.Close()))
}

// hungBackend returns the address of a server that accepts connections
// and never answers: an exporter's call hangs until its timeout.
func hungBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// deadBackend returns an address nothing listens on.
func deadBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
