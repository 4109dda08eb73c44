//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package segmentlog

import "os"

// supported is false: Open returns ErrUnsupported here, for want of
// flock(2) and O_NOFOLLOW.
const supported = false

func openNoFollow(name string, flag int, perm os.FileMode) (*os.File, error) {
	return nil, ErrUnsupported
}

func lockFile(*os.File) error { return ErrUnsupported }
