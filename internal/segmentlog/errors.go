package segmentlog

import "errors"

// Sentinel errors; test for them with errors.Is. Errors from the file
// system are wrapped, so errors.Is(err, syscall.ENOSPC) holds as well.
var (
	// ErrInvalidOptions is wrapped by the error Open returns for an
	// [Options] field given an invalid value.
	ErrInvalidOptions = errors.New("steadylog/segmentlog: invalid Options")
	// ErrLocked is returned by Open when another Log, in this process or
	// another, has the directory open.
	ErrLocked = errors.New("steadylog/segmentlog: directory is locked by another Log")
	// ErrSymlink is returned by Open when the directory, or a file in it
	// that the Log would use, is a symbolic link: the Log follows none.
	ErrSymlink = errors.New("steadylog/segmentlog: refusing a symbolic link")
	// ErrTooLarge is returned by Append, which then appends nothing, when
	// a payload does not fit in one segment, or when the payloads of one
	// call do not fit within Options.MaxBytes beside the active segment.
	ErrTooLarge = errors.New("steadylog/segmentlog: payload too large")
	// ErrUnknownConsumer is returned by Ack for a name not in
	// Options.Consumers.
	ErrUnknownConsumer = errors.New("steadylog/segmentlog: unknown consumer")
	// ErrClosed is returned by the methods of a closed Log, and of its
	// cursors.
	ErrClosed = errors.New("steadylog/segmentlog: log is closed")
	// ErrUnsupported is returned by Open on a platform without flock(2)
	// and O_NOFOLLOW.
	ErrUnsupported = errors.New("steadylog/segmentlog: unsupported platform")
)
