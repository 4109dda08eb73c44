//go:build linux && (amd64 || arm64)

package processor

import (
	"os"
	"syscall"
)

// dropCache evicts path's pages from the page cache
// (posix_fadvise(POSIX_FADV_DONTNEED)): they must be clean, as a synced
// spool's are.
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const fadvDontNeed = 4
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
