//go:build linux

package segmentlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, opts())
	if _, _, err := Open(dir, opts()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open in this process = %v, want ErrLocked", err)
	}
	if out, err := child(t, "lock", "SEGMENTLOG_DIR="+dir); err != nil {
		t.Fatalf("Open in a child process: %v\n%s", err, out)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, _ = mustOpen(t, dir, opts())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// childLock expects the directory to be locked by the parent.
func childLock(dir string) error {
	l, _, err := Open(dir, opts())
	if err == nil {
		l.Close()
		return errors.New("Open in the child succeeded while the parent holds the lock")
	}
	if !errors.Is(err, ErrLocked) {
		return fmt.Errorf("Open in the child = %v, want ErrLocked", err)
	}
	return nil
}

// TestFileSizeLimit runs a Log under RLIMIT_FSIZE, which makes a write past
// the limit fail with EFBIG: the Append fails, nothing it wrote stays, and
// the Log goes on in a new segment.
func TestFileSizeLimit(t *testing.T) {
	if out, err := child(t, "efbig", "SEGMENTLOG_DIR="+t.TempDir()); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func childEFBIG(dir string) error {
	const limit = 64 << 10
	signal := syscall.Rlimit{Cur: limit, Max: limit}
	ignoreSIGXFSZ()
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &signal); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	o := Options{Consumers: []string{"a"}, SegmentSize: 1 << 20, MaxBytes: 64 << 20}
	l, _, err := Open(dir, o)
	if err != nil {
		return err
	}
	var next uint64
	for ; ; next += 3 {
		first, _, err := l.Append(payload(next, 3000), payload(next+1, 3000), payload(next+2, 3000))
		if err == nil {
			if first != next {
				return fmt.Errorf("first = %d, want %d", first, next)
			}
			continue
		}
		if !errors.Is(err, syscall.EFBIG) {
			return fmt.Errorf("Append past the file size limit = %v, want EFBIG", err)
		}
		if first != next {
			return fmt.Errorf("failed Append returned first %d, want %d", first, next)
		}
		break
	}
	if next < 10 {
		return fmt.Errorf("only %d records before EFBIG", next)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil || len(files) != 1 {
		return fmt.Errorf("segments after EFBIG: %v, %v; want 1", files, err)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() > limit {
		return fmt.Errorf("segment after EFBIG: %v, %v; want at most %d bytes", fi, err, limit)
	}
	// Every record before the failure reads back; none of the failed call.
	check := func(l *Log, want uint64) error {
		c := l.NewCursor(0)
		defer c.Close()
		var seq uint64
		for {
			recs, err := c.Next(100, 1<<20)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				if r.Seq != seq || string(r.Payload) != string(payload(seq, 3000)) {
					return fmt.Errorf("read seq %d, want %d", r.Seq, seq)
				}
				seq++
			}
		}
		if seq != want {
			return fmt.Errorf("read %d records, want %d", seq, want)
		}
		return nil
	}
	if err := check(l, next); err != nil {
		return err
	}
	// A call too large for the limit fails in the new segment it starts,
	// and that segment goes.
	var big [][]byte
	for i := range 25 {
		big = append(big, payload(next+uint64(i), 3000))
	}
	if _, _, err := l.Append(big...); !errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("Append of 75 KB in a new segment = %v, want EFBIG", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix)); len(files) != 1 {
		return fmt.Errorf("segments after a failed Append in a new segment: %v, want the first only", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || l.Stats().Bytes != fi.Size() {
		return fmt.Errorf("Stats.Bytes = %d, the segment has %d bytes (%v)", l.Stats().Bytes, fi.Size(), err)
	}
	if err := check(l, next); err != nil {
		return err
	}
	// The next Append goes to a new segment, under the limit.
	if first, _, err := l.Append(payload(next, 3000)); err != nil || first != next {
		return fmt.Errorf("Append after EFBIG = %d, %v; want %d, nil", first, err, next)
	}
	if err := l.Close(); err != nil {
		return err
	}
	l, rec, err := Open(dir, o)
	if err != nil {
		return err
	}
	defer l.Close()
	if rec.Damaged != 0 || rec.DiscardedBytes != 0 || rec.TruncatedBytes != 0 || rec.Records != next+1 {
		return fmt.Errorf("Recovery after EFBIG = %+v, want %d whole records", rec, next+1)
	}
	return check(l, next+1)
}

// TestReadOnlyDirectory: Open of a directory it cannot write to fails with
// an error that wraps the system's. Root is not stopped by permissions, so
// as root the check runs in a child process that drops to the nobody user.
func TestReadOnlyDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "ro")
	l, _ := mustOpen(t, dir, opts())
	mustAppend(t, l, []byte("x"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if os.Geteuid() != 0 {
		if err := childReadOnly(dir); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Only the directory's mode may stop nobody: the files in it are
	// writable by all.
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if err := os.Chmod(f, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{parent, filepath.Dir(parent)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := childAs(t, 65534, parent, "readonly", "SEGMENTLOG_DIR="+dir)
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
}

func childReadOnly(dir string) error {
	l, _, err := Open(dir, opts())
	if err == nil {
		l.Close()
		return errors.New("Open of a read-only directory succeeded")
	}
	if !errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("Open of a read-only directory = %v, want a permission error", err)
	}
	return nil
}

// runChild runs the child side of a test; its exit code is the verdict
// (0 for success), its output the explanation.
func runChild(role string) int {
	var err error
	switch role {
	case "lock":
		err = childLock(os.Getenv("SEGMENTLOG_DIR"))
	case "efbig":
		err = childEFBIG(os.Getenv("SEGMENTLOG_DIR"))
	case "readonly":
		err = childReadOnly(os.Getenv("SEGMENTLOG_DIR"))
	default:
		err = errors.New("unknown role " + role)
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}
