package processor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSpoolOpensLateAfterPermissionDenied: a child process (as the nobody
// user when the test runs as root, whom permissions do not stop) starts a
// processor whose spool directory cannot be created: its parent is not
// writable. It works from memory; once the parent becomes writable the
// spool is created and opened within a sync interval, and what the child
// emitted, before and after, survives a SIGKILL: a processor on the same
// directory delivers all of it.
func TestSpoolOpensLateAfterPermissionDenied(t *testing.T) {
	const n = 200
	parent := filepath.Join(t.TempDir(), "parent")
	require.NoError(t, os.Mkdir(parent, 0o755))
	dir := filepath.Join(parent, "spool")
	cmd := childPermDenied(t, filepath.Dir(parent), "lateopen", "SPOOL_DIR="+dir)
	require.NoError(t, os.Chmod(parent, 0o555))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	lines := bufio.NewReader(out)
	expect := func(want string) {
		t.Helper()
		line, err := lines.ReadString('\n')
		if err != nil || line != want+"\n" {
			rest, _ := io.ReadAll(lines)
			t.Fatalf("child said %q (%v), want %s\n%s", line, err, want, rest)
		}
	}
	expect("degraded")
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, os.Chmod(parent, 0o777))
	expect("accepted")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	var errs errorLog
	exp := &spoolExporter{}
	p, err := New(exp, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Spool.Recovered, "%v", s)
	require.Eventually(t, func() bool { return exp.count() == n }, 20*time.Second, time.Millisecond)
	require.Equal(t, expectedKeys(0, n), exp.exported(), "every record, identical, in order")
	require.NoError(t, p.Shutdown(context.Background()))
	require.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// childPermDenied returns the child process of a test about permissions,
// in role: as root, a copy of the test binary placed in binDir, run as
// the nobody user; otherwise the test binary itself.
func childPermDenied(t *testing.T, binDir, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := child(t, role, env...)
	if os.Geteuid() != 0 {
		return cmd
	}
	const nobody = 65534
	for d := binDir; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		if fi.Mode().Perm()&0o005 != 0o005 {
			require.NoError(t, os.Chmod(d, fi.Mode().Perm()|0o005))
		}
	}
	src, err := os.Open(cmd.Path)
	require.NoError(t, err)
	defer src.Close()
	exe := filepath.Join(binDir, "processor.test")
	dst, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	cmd.Path, cmd.Args[0] = exe, exe
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	return cmd
}

// childLateOpen emits records to a processor with a hung exporter and a
// spool it cannot open, says "degraded", waits for the spool to open,
// emits more, says "accepted" once the spool holds them all, and waits to
// be killed.
func childLateOpen(dir string) error {
	var errs errorLog
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, WithSpool(dir, WithSpoolSyncInterval(10*time.Millisecond)), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	if err != nil {
		return err
	}
	if s := p.Stats(); !s.Spool.Degraded || !errors.Is(errs.first(), os.ErrPermission) {
		return fmt.Errorf("New on an uncreatable spool: %+v, reported first %v", *s.Spool, errs.first())
	}
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, 100)
	fmt.Println("degraded")
	for p.Stats().Spool.Degraded {
		time.Sleep(time.Millisecond) // polls a condition; the parent bounds the test
	}
	spoolEmit(lg, 100, 200)
	for !spoolWritten(p) {
		time.Sleep(time.Millisecond)
	}
	// The recovery's report names the last failure too.
	resumed := errs.matching("spooling again")
	if failed := errs.matching("could not be opened") - resumed; failed != 1 || resumed != 1 {
		return fmt.Errorf("one failure and one recovery must be reported: %d failures, %d recoveries", failed, resumed)
	}
	fmt.Println("accepted")
	select {} // until SIGKILL
}
