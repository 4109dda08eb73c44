package processor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"
)

// childEnv names the role a test re-executes the test binary in (see
// runChild); the child's environment carries its parameters.
const childEnv = "STEADYLOG_PROCESSOR_TEST_CHILD"

// child starts the test binary as a child process in role.
func child(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + role}, env...)...)
	return cmd
}

// runChild runs the child side of a test; its exit code is the verdict
// (0 for success), its output the explanation.
func runChild(role string) int {
	var err error
	switch role {
	case "crash":
		err = childCrash(os.Getenv("SPOOL_DIR"), os.Getenv("SPOOL_RECORDS"))
	case "efbig":
		err = childEFBIG(os.Getenv("SPOOL_DIR"))
	case "lateopen":
		err = childLateOpen(os.Getenv("SPOOL_DIR"))
	case "enospc":
		err = childENOSPC(os.Getenv("SPOOL_DIR"))
	case "degraded-outage":
		err = childDegradedOutage(os.Getenv("SPOOL_DIR"))
	default:
		err = errors.New("unknown role " + role)
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

// TestSpoolSurvivesSIGKILL: a child process emits records to a processor
// whose exporter hangs, says "accepted" once its spool has written them
// (syncing after every write), and is killed with SIGKILL. A processor on
// the same directory then delivers every record, identical, and counts
// them as recovered.
func TestSpoolSurvivesSIGKILL(t *testing.T) {
	const n = 2000
	dir := filepath.Join(t.TempDir(), "spool")
	cmd := child(t, "crash", "SPOOL_DIR="+dir, "SPOOL_RECORDS="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "accepted\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child said %q (%v), want accepted", line, err)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	var errs errorLog
	exp := &spoolExporter{}
	p, err := New(exp, spoolOpts(dir, &errs)...)
	require.NoError(t, err)
	s := p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Spool.Recovered, "%v", s)
	require.Equal(t, uint64(n), s.Received)
	require.Zero(t, s.Spool.Damaged)
	require.Eventually(t, func() bool { return exp.count() == n }, 20*time.Second, time.Millisecond)
	require.Equal(t, expectedKeys(0, n), exp.exported(), "every record, identical, in order")
	require.NoError(t, p.Shutdown(context.Background()))
	s = p.Stats()
	requireInvariant(t, s)
	require.Equal(t, uint64(n), s.Exported)
	require.Zero(t, s.TotalDropped())
	require.Zero(t, errs.matching("spool"), "%v", errs.errs)
}

// childCrash emits records to a processor with a hung exporter and a
// spool that syncs every write, prints "accepted" once the spool holds
// them all, and waits to be killed.
func childCrash(dir, records string) error {
	n, err := strconv.Atoi(records)
	if err != nil {
		return err
	}
	hung := &spoolExporter{gate: make(chan struct{})}
	p, err := New(hung, WithSpool(dir, WithSpoolSyncInterval(0)), WithoutDropAlerts())
	if err != nil {
		return err
	}
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	for !spoolWritten(p) {
		time.Sleep(time.Millisecond) // polls a condition; the parent waits for the line
	}
	// Written with a sync interval of 0: synced too.
	fmt.Println("accepted")
	select {} // until SIGKILL
}

// TestSpoolDiskFailure: the spool's writes fail for real (RLIMIT_FSIZE in
// a child process makes a write past 64 KiB fail with EFBIG); the
// processor reports the failure once per episode, keeps delivering from
// memory, and writes again once a write succeeds (a new segment starts
// below the limit).
func TestSpoolDiskFailure(t *testing.T) {
	cmd := child(t, "efbig", "SPOOL_DIR="+filepath.Join(t.TempDir(), "spool"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
}

func childEFBIG(dir string) error {
	const limit = 64 << 10
	signal.Ignore(syscall.SIGXFSZ)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	var errs errorLog
	exp := &spoolExporter{}
	p, err := New(exp, WithSpool(dir, WithSpoolSyncInterval(0)), WithExportInterval(10*time.Millisecond),
		WithoutDropAlerts(), WithErrorHandler(errs.handle))
	if err != nil {
		return err
	}
	lp, lg := spoolProvider(p, nil)
	const n = 2000
	for i := 0; i < n; i += 100 {
		spoolEmit(lg, i, i+100)
		for !spoolWritten(p) && !p.Stats().Spool.Degraded {
			time.Sleep(time.Millisecond)
		}
	}
	for exp.count() < n {
		time.Sleep(time.Millisecond)
	}
	s := p.Stats()
	resumed := errs.matching("writing again") // names the last failure too
	failed := errs.matching("writing failed") - resumed
	switch {
	case s.Spool.Errors == 0:
		return fmt.Errorf("no spool error under RLIMIT_FSIZE: %v %+v", s, *s.Spool)
	case !strings.Contains(s.Spool.LastError, "file too large"):
		return fmt.Errorf("LastError = %q, want EFBIG", s.Spool.LastError)
	case uint64(failed) > s.Spool.Errors || failed == 0:
		return fmt.Errorf("%d failures reported for %d errors", failed, s.Spool.Errors)
	case resumed < failed-1 || resumed > failed:
		return fmt.Errorf("%d failure episodes reported, %d recoveries", failed, resumed)
	}
	if err := lp.Shutdown(context.Background()); err != nil {
		return err
	}
	s = p.Stats()
	if s.Received != s.Exported+s.TotalDropped()+uint64(s.Queued)+uint64(s.InFlight) {
		return fmt.Errorf("invariant broken: %v", s)
	}
	if s.Exported != n || s.TotalDropped() != 0 {
		return fmt.Errorf("from memory, every record is delivered: %v", s)
	}
	return nil
}

// TestSpoolDegradedOutageDrops: records that only memory holds because
// the spool cannot write (RLIMIT_FSIZE in a child process makes every
// write fail) are not kept beyond the outage's retry budget: at its end
// they are dropped as export_failed, as without a spool.
func TestSpoolDegradedOutageDrops(t *testing.T) {
	cmd := child(t, "degraded-outage", "SPOOL_DIR="+filepath.Join(t.TempDir(), "spool"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
}

func childDegradedOutage(dir string) error {
	const n = 100
	signal.Ignore(syscall.SIGXFSZ)
	clk := clock.NewFake(time.Now())
	start := clk.Now()
	var errs errorLog
	exp := &outageExporter{down: true}
	p, err := New(exp, spoolOpts(dir, &errs, withRetryClock(clk))...)
	if err != nil {
		return err
	}
	// The spool's files are larger than a byte: from here on, every write
	// to them fails.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1, Max: 1}); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	_, lg := spoolProvider(p, nil)
	spoolEmit(lg, 0, n)
	begin := time.Now()
	for !p.Stats().Spool.Degraded {
		if time.Since(begin) > time.Minute {
			return errors.New("the spool never failed to write")
		}
		time.Sleep(time.Millisecond) // polls a condition; the parent waits for the exit
	}
	for {
		s := p.Stats()
		if s.Received != s.Exported+s.TotalDropped()+uint64(s.Queued)+uint64(s.InFlight) {
			return fmt.Errorf("invariant broken: %v", s)
		}
		dropped := s.Dropped[DropExportFailed]
		if dropped > 0 && clk.Since(start) < DefaultRetryMaxElapsed {
			return fmt.Errorf("dropped before the budget's end, at %v: %v", clk.Since(start), s)
		}
		if dropped == n {
			break
		}
		if time.Since(begin) > time.Minute {
			return fmt.Errorf("not dropped at %v: %v", clk.Since(start), s)
		}
		if clk.Waiters() > 0 {
			clk.Advance(time.Second)
		} else {
			time.Sleep(time.Millisecond) // polls a condition: the worker's next wait
		}
	}
	s := p.Stats()
	if !s.Spool.Degraded || s.Queued != 0 || s.TotalDropped() != n {
		return fmt.Errorf("want every record dropped, none queued, the spool degraded: %v %+v", s, *s.Spool)
	}
	if err := p.Shutdown(context.Background()); errors.Is(err, ErrQueuedInSpool) {
		return fmt.Errorf("Shutdown: %w", err)
	}
	if s := p.Stats(); s.Spool.LeftForNextStart != 0 || s.TotalDropped() != n {
		return fmt.Errorf("after Shutdown: %v %+v", s, *s.Spool)
	}
	return nil
}
