//go:build !(linux && (amd64 || arm64))

package processor

import "errors"

// dropCache is not available here: the cold-cache benchmarks skip.
func dropCache(string) error {
	return errors.New("no posix_fadvise on this platform")
}
