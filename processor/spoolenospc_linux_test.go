package processor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// noMount is the exit code of an ENOSPC child that could not mount its
// tmpfs: the test is skipped, not failed.
const noMount = 3

// TestSpoolENOSPC: the spool's disk fills for real — a 1 MiB tmpfs,
// mounted by a child process in a mount namespace of its own (in a user
// namespace too when the test does not run as root), most of it taken by
// a file the test placed. The processor reports the failure once, sets
// Stats.Spool.Degraded and Errors, keeps delivering from memory, and once
// the file is deleted writes again and says so; every record is delivered
// to both destinations, none dropped. Skipped only when neither way to
// mount is permitted.
func TestSpoolENOSPC(t *testing.T) {
	dir := t.TempDir()
	cmd := child(t, "enospc", "SPOOL_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == noMount:
		t.Skipf("a tmpfs cannot be mounted here: %s", out)
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL):
		t.Skipf("no mount namespace may be made here: %v", err)
	default:
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// childENOSPC mounts a 1 MiB tmpfs on dir, fills most of it, and runs the
// scenario of TestSpoolENOSPC.
func childENOSPC(dir string) error {
	// Mounts made here must not reach the parent's namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fmt.Println("making mounts private:", err)
		os.Exit(noMount)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		fmt.Println("mounting a tmpfs:", err)
		os.Exit(noMount)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 768<<10), 0o600); err != nil {
		return err
	}
	var errs errorLog
	healthy, hung := &spoolExporter{}, &spoolExporter{gate: make(chan struct{})}
	p, err := NewWithDestinations([]Destination{{Name: "healthy", Exporter: healthy}, {Name: "hung", Exporter: hung}},
		WithSpool(filepath.Join(dir, "spool"), WithSpoolSyncInterval(10*time.Millisecond), WithSpoolSegmentSize(64<<10)),
		WithMaxQueueSize(1<<20), WithExportInterval(10*time.Millisecond), WithoutDropAlerts(), WithErrorHandler(errs.handle))
	if err != nil {
		return err
	}
	lp, lg := spoolProvider(p, nil)
	const step = 100
	n := 0
	emit := func() {
		spoolEmit(lg, n, n+step)
		n += step
		for !spoolWritten(p) && !p.Stats().Spool.Degraded {
			time.Sleep(time.Millisecond) // polls a condition; the parent's timeout bounds the test
		}
	}
	for !p.Stats().Spool.Degraded {
		if n >= 50000 {
			return fmt.Errorf("no failure after %d records on a 1 MiB tmpfs: %+v", n, *p.Stats().Spool)
		}
		emit()
	}
	// While degraded: more records, delivered from memory to the healthy
	// destination; the spooler's retries fail, counted, not reported.
	for range 3 {
		emit()
	}
	for healthy.count() < n {
		time.Sleep(time.Millisecond)
	}
	s := p.Stats()
	resumed := errs.matching("writing again") // names the last failure too
	failed := errs.matching("no space left on device") - resumed
	switch {
	case !s.Spool.Degraded:
		return fmt.Errorf("writing while the tmpfs is full: %+v", *s.Spool)
	case !strings.Contains(s.Spool.LastError, "no space left on device"):
		return fmt.Errorf("LastError = %q, want ENOSPC", s.Spool.LastError)
	case failed != 1 || resumed != 0:
		return fmt.Errorf("%d failures reported, %d recoveries; want one failure", failed, resumed)
	case s.Spool.Errors < 1:
		return fmt.Errorf("Errors = %d", s.Spool.Errors)
	}

	// Room again: the spooler writes what memory holds and says so.
	if err := os.Remove(filler); err != nil {
		return err
	}
	emit()
	for p.Stats().Spool.Degraded || !spoolWritten(p) {
		time.Sleep(time.Millisecond)
	}
	resumed = errs.matching("writing again")
	if failed := errs.matching("no space left on device") - resumed; failed != 1 || resumed != 1 {
		return fmt.Errorf("%d failures reported, %d recoveries; want one of each", failed, resumed)
	}
	if s := p.Stats(); s.Spool.Records == 0 {
		return fmt.Errorf("nothing in the spool for the hung destination: %+v", *s.Spool)
	}
	close(hung.gate)
	if err := lp.Shutdown(context.Background()); err != nil {
		return err
	}
	s = p.Stats()
	if s.Received != s.Exported+s.TotalDropped()+uint64(s.Queued)+uint64(s.InFlight) {
		return fmt.Errorf("invariant broken: %v", s)
	}
	if s.Exported != uint64(n) || s.TotalDropped() != 0 {
		return fmt.Errorf("every record is delivered, none dropped: %v", s)
	}
	want := strings.Join(expectedKeys(0, n), "\n")
	for name, e := range map[string]*spoolExporter{"healthy": healthy, "hung": hung} {
		if got := strings.Join(e.exported(), "\n"); got != want {
			return fmt.Errorf("%s: %d records exported, not the %d emitted in order", name, e.count(), n)
		}
	}
	return nil
}
