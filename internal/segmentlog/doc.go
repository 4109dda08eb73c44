// Package segmentlog is the storage layer of the durable spool: a log of
// byte payloads in a directory of append-only segment files, read by named
// consumers from positions of their own. It knows nothing of what the
// payloads hold (the spool stores encoded batches of log records, one
// payload per batch); it knows sequence numbers, checksums, segments, a
// ledger of positions and a lock.
//
// # Records and positions
//
// Every record gets a sequence number, one more than the previous record's,
// across restarts: the ledger keeps the next number even when every segment
// has been deleted. A position is a sequence number, meaning "every record
// below it". One writer calls [Log.Append] and [Log.Sync]; each consumer
// named in [Options].Consumers reads with its own [Cursor] and reports its
// progress with [Log.Ack]. A segment file is deleted once every consumer
// has acknowledged all of its records. The active segment, the one being
// appended to, is never deleted, so once everything is delivered the
// directory holds one segment of at most Options.SegmentSize.
//
// # Durability
//
// Append writes its records to the active segment with one write per
// segment and never fsyncs: once it returns, its records survive the
// process being killed (they are in the kernel's page cache) and cursors
// can read them. Sync fsyncs the segments written since the last Sync, the
// directory if segments were created or deleted, and the ledger if a
// position or the caller's metadata ([Log.SetMeta]) changed: what was
// appended, acknowledged and set before Sync returned survives a crash of
// the machine. The caller decides how often to Sync;
// what it appends in between is the loss window of a power failure.
// Acknowledgements not yet synced come back after a crash: consumers see
// records again, never miss one.
//
// # Bounds
//
// Options.MaxBytes bounds the segment files. An Append that would go beyond
// it first removes the oldest segments, acknowledged or not; Options.MaxAge
// removes records older than it at each Append. Both return the removed
// ranges ([Removal]) from the call that removed them, so that the caller
// can count them as dropped, per consumer ([Removal.Lost]), under its own
// reason. A payload larger than [Log.MaxPayload] is refused with
// [ErrTooLarge].
//
// # Failures
//
// An Append either appends all of its payloads or none. When a write fails
// — a full disk (ENOSPC), a file size limit (EFBIG), an I/O error — the
// segment is cut back to its last whole record, Append returns an error
// that wraps the system's, and the next Append starts a new segment: the
// Log stays usable, for reading and for appending once the condition
// clears. Nothing in the package panics on a damaged file.
//
// # Recovery
//
// [Open] checks every frame's CRC-32C and keeps every record that still
// decodes: a torn write at the end of the newest segment is truncated;
// garbage, a flipped byte or a truncated file elsewhere loses the records
// it overlaps and no others, and [Recovery] counts them (the sequence
// numbers in the frames make the count exact). Without a ledger, or with a
// damaged one, every consumer starts again at the oldest record. A caller
// that rebuilds an index of its payloads after Open reads their first
// bytes with [Log.Heads], not every byte again with a Cursor.
//
// # Files
//
// The directory is created 0700 if missing; the files are 0600. A LOCK
// file holds an exclusive flock(2) while the Log is open, so a second Open
// of the directory, in this process or another, returns [ErrLocked]. The
// Log follows no symbolic link: a symlinked directory, segment or ledger is
// refused with [ErrSymlink]. Segment files are named by the sequence number
// of their first record, in 20 decimal digits, and start with a header
// (magic "SLSG", version); each record is a frame:
//
//	u32 payload length | u32 CRC-32C of the rest | u64 sequence | i64 append time (Unix ns) | payload
//
// The package is for Unix systems; elsewhere Open returns [ErrUnsupported].
package segmentlog
