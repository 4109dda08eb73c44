package segmentlog

import (
	"encoding/binary"
	"hash/crc32"
)

// A frame is one record in a segment file, little-endian:
//
//	offset  size  field
//	0       4     payload length n
//	4       4     CRC-32C (Castagnoli) of bytes 8..24+n: the rest of the header and the payload
//	8       8     sequence number
//	16      8     append time, Unix nanoseconds
//	24      n     payload
//
// The length is outside the checksum because it says how much the checksum
// covers; a damaged length makes the checksum fail (or points past the end
// of the file), so it is checked all the same. The sequence number is
// inside the frame, not derived from the position, so that recovery can
// count the records a damaged stretch held and resynchronise on the next
// frame whose checksum validates.
const frameHeaderSize = 24

// maxFramePayload bounds a payload length field: the largest a u32 holds.
const maxFramePayload = 1<<32 - 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameSize is the bytes a frame with an n-byte payload takes.
func frameSize(n int) int64 { return frameHeaderSize + int64(n) }

// appendFrame appends the frame of payload to dst.
func appendFrame(dst []byte, seq uint64, unixNano int64, payload []byte) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint64(h[16:], uint64(unixNano))
	crc := crc32.Update(0, castagnoli, h[8:])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:], crc)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// frameHeader is a decoded frame header.
type frameHeader struct {
	n    uint32
	crc  uint32
	seq  uint64
	time int64
}

// parseFrameHeader decodes the header at the start of b, which must hold
// frameHeaderSize bytes.
func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		n:    binary.LittleEndian.Uint32(b[0:]),
		crc:  binary.LittleEndian.Uint32(b[4:]),
		seq:  binary.LittleEndian.Uint64(b[8:]),
		time: int64(binary.LittleEndian.Uint64(b[16:])),
	}
}

// checkFrame reports whether frame (header and payload, exactly) carries
// a valid checksum.
func checkFrame(frame []byte) bool {
	if len(frame) < frameHeaderSize {
		return false
	}
	h := parseFrameHeader(frame)
	if int64(len(frame)) != frameSize(int(h.n)) {
		return false
	}
	return crc32.Checksum(frame[8:], castagnoli) == h.crc
}
