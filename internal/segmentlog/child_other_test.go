//go:build !linux

package segmentlog

import "fmt"

// runChild: the tests that run a child process are Linux-only.
func runChild(role string) int {
	fmt.Println("no child role on this platform:", role)
	return 1
}
