//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package segmentlog

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

const supported = true

// openNoFollow opens name without following a symbolic link in its last
// element: a symlink planted where a segment or the ledger should be is an
// error (ErrSymlink), not a write to wherever it points.
func openNoFollow(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s: %w", ErrSymlink, name, err)
	}
	return f, err
}

// lockFile takes an exclusive flock(2) on f without waiting. flock locks
// belong to the open file description, so a second open(2) of the same
// file, in this process or another, conflicts.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}
