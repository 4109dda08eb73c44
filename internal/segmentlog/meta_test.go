package segmentlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// TestMeta: the metadata is written with the ledger at Sync, not before,
// comes back at Open, stays with the Log until replaced, and is lost with
// the ledger.
func TestMeta(t *testing.T) {
	dir := t.TempDir()
	l, rec := mustOpen(t, dir, opts("a"))
	if rec.Meta != nil {
		t.Fatalf("Recovery.Meta of a new directory = %q, want nil", rec.Meta)
	}
	mustAppend(t, l, payload(0, 100))
	if err := l.SetMeta([]byte("synced")); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta([]byte("not synced")); err != nil {
		t.Fatal(err)
	}
	l.kill()

	l, rec = mustOpen(t, dir, opts("a"))
	if string(rec.Meta) != "synced" {
		t.Fatalf("Recovery.Meta after a kill = %q, want what the last Sync wrote", rec.Meta)
	}
	// Open's own write of the ledger, and a Close, keep it.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec = mustOpen(t, dir, opts("a"))
	if string(rec.Meta) != "synced" {
		t.Fatalf("Recovery.Meta after a Close with no SetMeta = %q, want it kept", rec.Meta)
	}
	if err := l.SetMeta(bytes.Repeat([]byte{1}, MaxMeta+1)); err == nil {
		t.Fatal("SetMeta beyond MaxMeta succeeded")
	}
	big := bytes.Repeat([]byte{7}, MaxMeta)
	if err := l.SetMeta(big); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetMeta after Close = %v, want ErrClosed", err)
	}
	l, rec = mustOpen(t, dir, opts("a"))
	if !bytes.Equal(rec.Meta, big) {
		t.Fatalf("Recovery.Meta of %d bytes, want the %d set", len(rec.Meta), len(big))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, ledgerName)); err != nil {
		t.Fatal(err)
	}
	l, rec = mustOpen(t, dir, opts("a"))
	defer l.Close()
	if rec.Meta != nil || !rec.LedgerLost {
		t.Fatalf("Recovery without a ledger: Meta %q, LedgerLost %t; want nil, true", rec.Meta, rec.LedgerLost)
	}
}

// TestLedgerVersion1: a ledger written before metadata existed is read,
// with its positions and no metadata.
func TestLedgerVersion1(t *testing.T) {
	b := []byte(ledgerMagic)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, 3)  // first
	b = binary.LittleEndian.AppendUint64(b, 10) // next
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, 'a')
	b = binary.LittleEndian.AppendUint64(b, 5)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	lg, err := decodeLedger(b)
	if err != nil {
		t.Fatal(err)
	}
	if lg.first != 3 || lg.next != 10 || lg.acks["a"] != 5 || lg.meta != nil {
		t.Fatalf("decoded %+v, want first 3, next 10, a at 5, no metadata", lg)
	}
	// Version 2 round trip, and a metadata length past the end.
	v2 := ledger{first: 3, next: 10, acks: map[string]uint64{"a": 5}, meta: []byte("m")}.encode([]string{"a"})
	if lg, err := decodeLedger(v2); err != nil || string(lg.meta) != "m" || lg.acks["a"] != 5 {
		t.Fatalf("decoded %+v, %v", lg, err)
	}
	bad := bytes.Clone(v2[:len(v2)-4])
	binary.LittleEndian.PutUint32(bad[len(bad)-5:], 9)
	bad = binary.LittleEndian.AppendUint32(bad, crc32.Checksum(bad, castagnoli))
	if _, err := decodeLedger(bad); !errors.Is(err, errBadLedger) {
		t.Fatalf("a metadata length past the end: %v, want errBadLedger", err)
	}
}
