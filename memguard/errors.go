package memguard

import "errors"

// Sentinel errors returned by the constructors; test for them with errors.Is.
var (
	// ErrInvalidLimit is returned for a byte limit that is not positive.
	ErrInvalidLimit = errors.New("memguard: limit must be positive")
	// ErrInvalidThreshold is returned for a pressure threshold outside (0, 1].
	ErrInvalidThreshold = errors.New("memguard: threshold must be in (0, 1]")
	// ErrInvalidInterval is returned for a refresh interval that is not
	// positive.
	ErrInvalidInterval = errors.New("memguard: refresh interval must be positive")
)
