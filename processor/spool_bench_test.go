package processor

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/recordtest"
	"github.com/steadylog/steadylog/internal/segmentlog"
)

// The spool's disk benchmarks: sustained write throughput against plain
// sequential writes of the same bytes (BenchmarkSpoolWrite), and the time
// to open a spool of 1 GiB against reading its files
// (BenchmarkSpoolRecover). Each runs its reference beside it in the same
// process, in the same directory (b.TempDir: TMPDIR's filesystem), so that
// a ratio compares like with like on a shared machine. They write 256 MiB
// and 1 GiB: run them alone, with -benchtime=1x, and repeat the process
// (benchmarks/results/spool-disk.txt says how).

// spoolBenchRecords is a payload's worth of records: the spooler writes
// what one chunk holds, 256 records.
const spoolBenchRecords = 256

// benchRecord is a service's typical record (as the recordcodec
// benchmarks have it): a short message, three attributes, a trace
// context, with a resource and a scope. Encoded, it takes about 142 bytes.
func benchRecord(b *testing.B) sdklog.Record {
	b.Helper()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"), attribute.Int("service.instance", 3))
	var r log.Record
	r.SetTimestamp(time.Unix(1_800_000_000, 0))
	r.SetObservedTimestamp(time.Unix(1_800_000_000, 5))
	r.SetSeverity(log.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetBody(attribute.StringValue("request received"))
	r.AddAttributes(attribute.Int("seq", 123456), attribute.String("http.method", "GET"), attribute.String("url.path", "/items/42"))
	recs := recordtest.Emit([]sdklog.LoggerProviderOption{sdklog.WithResource(res)}, "github.com/steadylog/steadylog/processor/bench", r)
	if len(recs) != 1 {
		b.Fatalf("captured %d records, want 1", len(recs))
	}
	rec := recs[0]
	rec.SetTraceID(trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	rec.SetSpanID(trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	rec.SetTraceFlags(trace.FlagsSampled)
	return rec
}

// payloads returns what the spooler writes for spoolBenchRecords copies of
// rec: the encoded batch, and a function that appends the payload of the
// batch whose first record is first to dst (the header changes, the
// records do not).
func payloads(b *testing.B, rec sdklog.Record) (batch []byte, payload func(dst []byte, first uint64) []byte) {
	b.Helper()
	recs := make([]sdklog.Record, spoolBenchRecords)
	for i := range recs {
		recs[i] = rec
	}
	batch, err := recordcodec.AppendBatch(nil, recs)
	if err != nil {
		b.Fatal(err)
	}
	seqs := make([]uint64, spoolBenchRecords)
	return batch, func(dst []byte, first uint64) []byte {
		for i := range seqs {
			seqs[i] = first + uint64(i)
		}
		return append(appendPayloadHeader(dst, first, seqs), batch...) // seqs from 0: first records before
	}
}

// spoolWriteVolume is what one BenchmarkSpoolWrite operation writes: the
// default spool bound, filled once.
const spoolWriteVolume = DefaultSpoolMaxBytes

// BenchmarkSpoolWrite measures sustained writes of spoolWriteVolume bytes
// of payloads, each operation in a new directory, fsyncing every
// DefaultSpoolSyncInterval (the spool's default) and at the end, which
// the time includes:
//
//   - to=file: the reference, os.File.Write of each payload's bytes to one
//     file, as many bytes as to=segmentlog's frames take;
//   - to=segmentlog: one segmentlog.Append per payload, Sync on the same
//     cadence; one consumer that acknowledges nothing, so every segment
//     stays, as with a destination that is down;
//   - to=processor: records through OnEmit of a Processor WithSpool whose
//     destination hangs, as many as fill spoolWriteVolume encoded, until
//     Shutdown has written and synced them. OnEmit blocks for room
//     (Block), so the emitter goes at the pace of the spool: every record
//     must be written (and spilled) to make room, none is dropped.
//
// Each reports disk-MB/s (bytes of the files, in 10^6 bytes per second)
// and records/s (typical records of about 142 bytes encoded); to=processor
// also reports the share of records the store packed (%packed).
func BenchmarkSpoolWrite(b *testing.B) {
	rec := benchRecord(b)
	batch, payload := payloads(b, rec)
	perRecord := float64(len(batch)) / spoolBenchRecords
	payloadSize := len(payload(nil, 1<<40))
	frames := spoolWriteVolume / (payloadSize + 24) // 24: segmentlog's frame header
	report := func(b *testing.B, bytes int64, records uint64) {
		s := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(float64(bytes)/1e6/s, "disk-MB/s")
		b.ReportMetric(float64(records)/s, "records/s")
		b.ReportMetric(0, "ns/op")
	}

	b.Run("to=file", func(b *testing.B) {
		chunk := make([]byte, payloadSize+24)
		copy(chunk[24:], payload(nil, 1))
		var bytes int64
		for range b.N {
			f, err := os.Create(filepath.Join(b.TempDir(), "file"))
			if err != nil {
				b.Fatal(err)
			}
			synced := time.Now()
			for range frames {
				if _, err := f.Write(chunk); err != nil {
					b.Fatal(err)
				}
				if time.Since(synced) >= DefaultSpoolSyncInterval {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					synced = time.Now()
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			fi, err := f.Stat()
			if err != nil {
				b.Fatal(err)
			}
			bytes = fi.Size()
			b.StopTimer()
			f.Close()
			os.Remove(f.Name())
			b.StartTimer()
		}
		report(b, bytes, uint64(frames)*spoolBenchRecords)
	})

	b.Run("to=segmentlog", func(b *testing.B) {
		var bytes int64
		var buf []byte
		for range b.N {
			dir := b.TempDir()
			l, _, err := segmentlog.Open(dir, segmentlog.Options{Consumers: []string{"down"}, MaxBytes: 2 * spoolWriteVolume})
			if err != nil {
				b.Fatal(err)
			}
			synced := time.Now()
			for i := range frames {
				buf = payload(buf[:0], uint64(i)*spoolBenchRecords)
				if _, removed, err := l.Append(buf); err != nil || len(removed) > 0 {
					b.Fatal(err, removed)
				}
				if time.Since(synced) >= DefaultSpoolSyncInterval {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
					synced = time.Now()
				}
			}
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
			bytes = l.Stats().Bytes
			b.StopTimer()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			os.RemoveAll(dir)
			b.StartTimer()
		}
		report(b, bytes, uint64(frames)*spoolBenchRecords)
	})

	b.Run("to=processor", func(b *testing.B) {
		n := int(float64(spoolWriteVolume) / perRecord)
		var bytes int64
		var written, packed uint64
		for range b.N {
			dir := b.TempDir()
			exp := &gateExporter{gate: make(chan struct{})}
			p, err := New(exp, WithoutDropAlerts(), WithOverflow(Block(time.Minute)),
				WithSpool(dir, WithSpoolMaxBytes(2*spoolWriteVolume)))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			r := rec.Clone()
			for range n {
				if err := p.OnEmit(ctx, &r); err != nil {
					b.Fatal(err)
				}
			}
			// An expired deadline: the spooler writes what memory holds
			// and syncs, the hung destination is left.
			expired, cancel := context.WithDeadline(ctx, time.Now())
			_ = p.Shutdown(expired)
			cancel()
			b.StopTimer()
			close(exp.gate)
			st := p.Stats()
			if st.TotalDropped() > 0 || st.Spool.LeftForNextStart != uint64(n) {
				b.Fatalf("%d records: %d left on disk, %v", n, st.Spool.LeftForNextStart, st)
			}
			bytes, written, packed = dirBytes(b, dir), st.Spool.LeftForNextStart, st.Packed
			if bytes < st.Spool.Bytes {
				b.Fatalf("%d bytes in %s, Stats.Spool.Bytes %d", bytes, dir, st.Spool.Bytes)
			}
			os.RemoveAll(dir)
			b.StartTimer()
		}
		report(b, bytes, written)
		// Records the store packed to make room because the spooler had
		// not written them yet: the spooler decodes them to write them.
		b.ReportMetric(100*float64(packed)/float64(n), "%packed")
	})
}

// gateExporter hangs every Export, ignoring its context, until gate is
// closed: a destination that is down, and whose calls never return.
type gateExporter struct{ gate chan struct{} }

func (e *gateExporter) Export(context.Context, []sdklog.Record) error {
	<-e.gate
	return errors.New("down")
}
func (e *gateExporter) ForceFlush(context.Context) error { return nil }
func (e *gateExporter) Shutdown(context.Context) error   { return nil }

// dirBytes returns the size of the files in dir.
func dirBytes(b *testing.B, dir string) int64 {
	b.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// spoolRecoverVolume is the size of BenchmarkSpoolRecover's spool.
const spoolRecoverVolume = 1 << 30

// BenchmarkSpoolRecover opens a spool of 1 GiB of payloads of typical
// records, written once by segmentlog as the spooler writes them, and
// reports the time per GiB (s/GiB):
//
//   - what=read: the reference, the segment files read in order with 4 MiB
//     reads;
//   - what=read+crc: the same, with a CRC-32C of every byte, which is what
//     recovery must at least do;
//   - what=segmentlog: segmentlog.Open (every frame read and checked);
//   - what=processor: New WithSpool, which opens the log and rebuilds the
//     processor's index (Stats.Spool.Recovered counts every record).
//
// cache=warm leaves the files in the page cache (the fixture was just
// written, and every operation reads them); cache=cold first evicts them
// with posix_fadvise(POSIX_FADV_DONTNEED) where the platform has it
// (outside the time), so that they are read from the disk — or from the
// host's cache, on a virtual machine.
func BenchmarkSpoolRecover(b *testing.B) {
	rec := benchRecord(b)
	_, payload := payloads(b, rec)
	dir := b.TempDir()
	const name = "down"
	l, _, err := segmentlog.Open(dir, segmentlog.Options{Consumers: []string{name}, MaxBytes: 2 * spoolRecoverVolume})
	if err != nil {
		b.Fatal(err)
	}
	var records uint64
	group := make([][]byte, 16)
	for l.Stats().Bytes < spoolRecoverVolume {
		for i := range group {
			group[i] = payload(group[i][:0], records)
			records += spoolBenchRecords
		}
		if _, _, err := l.Append(group...); err != nil {
			b.Fatal(err)
		}
	}
	size := l.Stats().Bytes
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	segments := segmentFiles(b, dir)
	perGiB := func(b *testing.B) {
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*(1<<30)/float64(size), "s/GiB")
		b.ReportMetric(0, "ns/op")
	}

	for _, cache := range []string{"warm", "cold"} {
		prepare := func(b *testing.B) {
			if cache == "cold" {
				b.StopTimer()
				for _, s := range segments {
					if err := dropCache(s); err != nil {
						b.Skip(err)
					}
				}
				b.StartTimer()
			}
		}
		read := func(b *testing.B, crc bool) {
			buf := make([]byte, 4<<20)
			for range b.N {
				prepare(b)
				var n int64
				var sum uint32
				for _, s := range segments {
					f, err := os.Open(s)
					if err != nil {
						b.Fatal(err)
					}
					for {
						k, err := f.Read(buf)
						n += int64(k)
						if crc {
							sum = crc32.Update(sum, crc32.MakeTable(crc32.Castagnoli), buf[:k])
						}
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					f.Close()
				}
				if n != size {
					b.Fatalf("read %d bytes of %d (crc %x)", n, size, sum)
				}
			}
			perGiB(b)
		}
		b.Run(fmt.Sprintf("cache=%s/what=read", cache), func(b *testing.B) { read(b, false) })
		b.Run(fmt.Sprintf("cache=%s/what=read+crc", cache), func(b *testing.B) { read(b, true) })
		b.Run(fmt.Sprintf("cache=%s/what=segmentlog", cache), func(b *testing.B) {
			for range b.N {
				prepare(b)
				l, rec, err := segmentlog.Open(dir, segmentlog.Options{Consumers: []string{name}, MaxBytes: 2 * spoolRecoverVolume})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				l.Close()
				if rec.Records*spoolBenchRecords != records || rec.Damaged != 0 {
					b.Fatalf("recovered %+v, want %d payloads", rec, records/spoolBenchRecords)
				}
				b.StartTimer()
			}
			perGiB(b)
		})
		b.Run(fmt.Sprintf("cache=%s/what=processor", cache), func(b *testing.B) {
			for range b.N {
				prepare(b)
				exp := &gateExporter{gate: make(chan struct{})}
				p, err := NewWithDestinations([]Destination{{Name: name, Exporter: exp}}, WithoutDropAlerts(),
					WithSpool(dir, WithSpoolMaxBytes(2*spoolRecoverVolume)))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				expired, cancel := context.WithDeadline(context.Background(), time.Now())
				_ = p.Shutdown(expired)
				cancel()
				close(exp.gate)
				if st := p.Stats(); st.Spool.Recovered != records || st.Spool.Damaged != 0 {
					b.Fatalf("recovered %d records (%d damaged), want %d", st.Spool.Recovered, st.Spool.Damaged, records)
				}
				b.StartTimer()
			}
			perGiB(b)
		})
	}
}

// segmentFiles returns the segment files of dir, oldest first.
func segmentFiles(b *testing.B, dir string) []string {
	b.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".seg") {
			names = append(names, filepath.Join(dir, de.Name()))
		}
	}
	slices.Sort(names)
	return names
}
