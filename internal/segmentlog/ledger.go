package segmentlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The ledger holds the positions that must survive the segments: the
// sequence number the next record gets (so numbers stay monotonic when
// every segment has been deleted), the first live record (so that records
// removed by the bounds do not come back from a segment not yet deleted),
// each consumer's acknowledged position, and the caller's metadata
// ([Log.SetMeta]). Little-endian:
//
//	"SLLG" | u32 version | u64 first | u64 next | u32 count |
//	count × (u16 name length | name | u64 acknowledged) |
//	u32 metadata length | metadata | u32 CRC-32C of all before it
//
// Version 1 had no metadata; it is still read (as no metadata), and
// version 2 is written.
//
// It is replaced atomically: written to LEDGER.tmp, fsynced, renamed over
// LEDGER, and the directory fsynced.
const (
	ledgerName      = "LEDGER"
	ledgerTmpName   = "LEDGER.tmp"
	ledgerMagic     = "SLLG"
	ledgerVersion   = 2
	maxConsumerName = 255
	// MaxMeta is the largest metadata SetMeta accepts.
	MaxMeta = 4 << 10
)

type ledger struct {
	first, next uint64
	acks        map[string]uint64
	meta        []byte // nil in a version 1 ledger
}

var errBadLedger = errors.New("steadylog/segmentlog: damaged ledger")

func (lg ledger) encode(order []string) []byte {
	b := make([]byte, 0, 36+len(order)*(2+maxConsumerName+8)+len(lg.meta))
	b = append(b, ledgerMagic...)
	b = binary.LittleEndian.AppendUint32(b, ledgerVersion)
	b = binary.LittleEndian.AppendUint64(b, lg.first)
	b = binary.LittleEndian.AppendUint64(b, lg.next)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(order)))
	for _, name := range order {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.LittleEndian.AppendUint64(b, lg.acks[name])
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(lg.meta)))
	b = append(b, lg.meta...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeLedger(b []byte) (ledger, error) {
	if len(b) < 32 || string(b[:4]) != ledgerMagic {
		return ledger{}, errBadLedger
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	version := binary.LittleEndian.Uint32(b[4:])
	if crc32.Checksum(body, castagnoli) != sum || version < 1 || version > ledgerVersion {
		return ledger{}, errBadLedger
	}
	lg := ledger{
		first: binary.LittleEndian.Uint64(body[8:]),
		next:  binary.LittleEndian.Uint64(body[16:]),
		acks:  map[string]uint64{},
	}
	count := binary.LittleEndian.Uint32(body[24:])
	rest := body[28:]
	for range count {
		if len(rest) < 2 {
			return ledger{}, errBadLedger
		}
		n := int(binary.LittleEndian.Uint16(rest))
		if len(rest) < 2+n+8 {
			return ledger{}, errBadLedger
		}
		lg.acks[string(rest[2:2+n])] = binary.LittleEndian.Uint64(rest[2+n:])
		rest = rest[2+n+8:]
	}
	if version >= 2 {
		if len(rest) < 4 {
			return ledger{}, errBadLedger
		}
		n := binary.LittleEndian.Uint32(rest)
		if n > MaxMeta || uint64(len(rest)-4) < uint64(n) {
			return ledger{}, errBadLedger
		}
		lg.meta = append([]byte{}, rest[4:4+n]...)
		rest = rest[4+n:]
	}
	if len(rest) != 0 || lg.first > lg.next {
		return ledger{}, errBadLedger
	}
	return lg, nil
}

// readLedger returns the ledger in dir; found is false when there is none.
func readLedger(dir string) (lg ledger, found bool, err error) {
	f, err := openNoFollow(filepath.Join(dir, ledgerName), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return ledger{}, false, nil
	}
	if err != nil {
		return ledger{}, true, err
	}
	defer f.Close()
	b, err := readAll(f)
	if err != nil {
		return ledger{}, true, err
	}
	lg, err = decodeLedger(b)
	return lg, true, err
}

// writeLedger replaces the ledger in dir atomically; dirf is the open
// directory, fsynced after the rename.
func writeLedger(dir string, dirf *os.File, b []byte) error {
	tmp := filepath.Join(dir, ledgerTmpName)
	f, err := openNoFollow(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("steadylog/segmentlog: writing the ledger: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, ledgerName))
	}
	if err == nil {
		err = dirf.Sync()
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("steadylog/segmentlog: writing the ledger: %w", err)
	}
	return nil
}
