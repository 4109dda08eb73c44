package memguard

import "errors"

// Sentinel errors returned by the constructors; test for them with errors.Is.
var (
	// ErrInvalidLimit is wrapped by the error NewBudget returns for a
	// limit that is not positive.
	ErrInvalidLimit = errors.New("steadylog/memguard: limit must be positive")
	// ErrInvalidOption is wrapped by the error NewHeapMonitor returns for
	// an option given an invalid value, and for a nil option.
	ErrInvalidOption = errors.New("steadylog/memguard: invalid option")
)
