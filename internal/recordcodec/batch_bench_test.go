package recordcodec_test

import (
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
)

// benchBatch is a spool payload's worth of a service's typical records
// (smallRecord), of one resource and scope.
func benchBatch(b *testing.B) []sdklog.Record {
	recs := make([]sdklog.Record, 512)
	r := smallRecord(b)
	for i := range recs {
		recs[i] = r
	}
	return recs
}

// reportPerRecord reports the time per record and the encoding's bytes
// per record.
func reportPerRecord(b *testing.B, records, encoded int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	b.ReportMetric(float64(encoded)/float64(records), "B/record")
}

func BenchmarkAppendBatch(b *testing.B) {
	recs := benchBatch(b)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = recordcodec.AppendBatch(buf[:0], recs); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b, len(recs), len(buf))
}

// BenchmarkAppendEncodedBatch puts the same batch together from its
// records' encodings, as the spool does for records the store packed.
func BenchmarkAppendEncodedBatch(b *testing.B) {
	recs := benchBatch(b)
	var encs [][]byte
	for k := range recs {
		enc, err := recordcodec.Append(nil, &recs[k])
		if err != nil {
			b.Fatal(err)
		}
		encs = append(encs, enc)
	}
	origin := func(k int) *sdklog.Record { return &recs[k] }
	enc := func(k int) []byte { return encs[k] }
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = recordcodec.AppendEncodedBatch(buf[:0], len(recs), origin, enc); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b, len(recs), len(buf))
}

func BenchmarkDecodeBatch(b *testing.B) {
	recs := benchBatch(b)
	enc, err := recordcodec.AppendBatch(nil, recs)
	if err != nil {
		b.Fatal(err)
	}
	cache := recordcodec.NewTemplates(recordcodec.DefaultTemplates)
	out := make([]sdklog.Record, 0, len(recs))
	b.ReportAllocs()
	for b.Loop() {
		if out, err = recordcodec.DecodeBatch(enc, cache, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b, len(recs), len(enc))
}

// BenchmarkOTLPTransformMarshal is what otlploghttp v0.23.0 does with the
// same batch before it sends it: builds the OTLP structs (its transform,
// copied in otlptransform_test.go) and marshals them (client.go).
func BenchmarkOTLPTransformMarshal(b *testing.B) {
	recs := benchBatch(b)
	var body []byte
	b.ReportAllocs()
	for b.Loop() {
		req := &collogspb.ExportLogsServiceRequest{ResourceLogs: otlpResourceLogs(recs)}
		var err error
		if body, err = proto.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b, len(recs), len(body))
}

// BenchmarkTemplate is the cost of a template: a one-record batch decoded
// with no Templates, which builds one through a private LoggerProvider.
func BenchmarkTemplate(b *testing.B) {
	recs := benchBatch(b)[:1]
	enc, err := recordcodec.AppendBatch(nil, recs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err = recordcodec.DecodeBatch(enc, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
