package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// runTB lets a command use integration/harness, whose helpers take a
// testing.TB for temporary directories, clean-ups and failures. Fatal
// panics with a fatalError that run recovers; clean-ups run, last first,
// when close is called. Only the methods below are meant to be used: the
// embedded nil testing.TB only completes the interface (it has an
// unexported method) and panics if anything else is called.
type runTB struct {
	testing.TB

	dir  string // parent of every TempDir
	keep bool   // keep temporary directories

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	logf     func(format string, args ...any)
}

type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

func newRunTB(dir string, keep bool, logf func(string, ...any)) *runTB {
	return &runTB{dir: dir, keep: keep, logf: logf}
}

func (t *runTB) Helper()      {}
func (t *runTB) Name() string { return "service-bench" }

func (t *runTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// close runs the registered clean-ups, last registered first.
func (t *runTB) close() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (t *runTB) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "run-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	if !t.keep {
		t.Cleanup(func() { _ = os.RemoveAll(d) })
	}
	return d
}

func (t *runTB) Log(args ...any)                 { t.logf("%s", fmt.Sprint(args...)) }
func (t *runTB) Logf(format string, args ...any) { t.logf(format, args...) }
func (t *runTB) Error(args ...any)               { t.Log(args...); t.Fail() }
func (t *runTB) Errorf(format string, args ...any) {
	t.Logf(format, args...)
	t.Fail()
}

func (t *runTB) Fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
}

func (t *runTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *runTB) FailNow()          { t.Fail(); panic(fatalError{"FailNow"}) }
func (t *runTB) Fatal(args ...any) { t.Fail(); panic(fatalError{fmt.Sprint(args...)}) }
func (t *runTB) Fatalf(format string, args ...any) {
	t.Fail()
	panic(fatalError{fmt.Sprintf(format, args...)})
}
func (t *runTB) Skip(args ...any)                 { t.Fatal(args...) }
func (t *runTB) Skipf(format string, args ...any) { t.Fatalf(format, args...) }
func (t *runTB) SkipNow()                         { t.FailNow() }
func (t *runTB) Skipped() bool                    { return false }
