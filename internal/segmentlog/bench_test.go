package segmentlog

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The write benchmarks append payloads and Sync after every syncEvery
// bytes; BenchmarkAppend goes through a Log (one consumer acknowledging
// everything at each Sync, so segments are deleted as they would be),
// BenchmarkRawWrite writes the same bytes through a bufio.Writer to plain
// files of the same size, with the same fsyncs. Run together, they give
// the cost of the framing, checksums, write-through and bookkeeping.
const syncEvery = 4 << 20

var benchSizes = []int{4 << 10, 64 << 10}

func BenchmarkAppend(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("payload=%dKiB", size>>10), func(b *testing.B) {
			l, _ := mustOpen(b, b.TempDir(), Options{Consumers: []string{"a"}})
			defer l.Close()
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(i)
			}
			b.SetBytes(int64(size))
			var unsynced int
			for b.Loop() {
				first, _, err := l.Append(p)
				if err != nil {
					b.Fatal(err)
				}
				if unsynced += size; unsynced >= syncEvery {
					if err := l.Ack("a", first+1); err != nil {
						b.Fatal(err)
					}
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
					unsynced = 0
				}
			}
		})
	}
}

func BenchmarkRawWrite(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("payload=%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			var f *os.File
			var w *bufio.Writer
			var n, written int
			next := func() {
				if f != nil {
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
					f.Close()
					os.Remove(f.Name())
				}
				var err error
				f, err = os.Create(filepath.Join(dir, fmt.Sprint(n)))
				if err != nil {
					b.Fatal(err)
				}
				n++
				w = bufio.NewWriter(f)
				written = 0
			}
			next()
			defer func() { f.Close() }()
			p := make([]byte, size)
			b.SetBytes(int64(size))
			var unsynced int
			for b.Loop() {
				if written+size > DefaultSegmentSize {
					next()
				}
				if _, err := w.Write(p); err != nil {
					b.Fatal(err)
				}
				written += size
				if unsynced += size; unsynced >= syncEvery {
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					unsynced = 0
				}
			}
		})
	}
}

// BenchmarkRecover opens a spool of 64 MiB of 4 KiB records: every
// record's checksum is verified. It reports the time per GiB.
func BenchmarkRecover(b *testing.B) {
	const total = 64 << 20
	dir := b.TempDir()
	o := Options{Consumers: []string{"a"}}
	l, _ := mustOpen(b, dir, o)
	p := make([]byte, 4<<10)
	for range total / len(p) {
		if _, _, err := l.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	start := time.Now()
	for b.Loop() {
		l, rec, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		if rec.Records != total/uint64(len(p)) {
			b.Fatalf("recovered %d records", rec.Records)
		}
		l.Close()
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N)*float64(1<<30)/total, "s/GiB")
}
