//go:build !linux

package processor

import "errors"

// childENOSPC: mount namespaces are Linux's.
func childENOSPC(string) error { return errors.New("no tmpfs child on this platform") }
