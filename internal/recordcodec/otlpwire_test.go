package recordcodec_test

import (
	"math/rand/v2"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	cpb "go.opentelemetry.io/proto/otlp/common/v1"
	lpb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordcodec"
)

func unmarshalRequest(t testing.TB, b []byte) *collogspb.ExportLogsServiceRequest {
	t.Helper()
	var req collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatalf("not an OTLP ExportLogsServiceRequest: %v", err)
	}
	stripUnknown(req.ProtoReflect())
	return &req
}

// stripUnknown clears the unknown fields of m and the messages in it: the
// codec's type of a typed slice (AnyValue field 15), which receivers skip.
func stripUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := range v.List().Len() {
				stripUnknown(v.List().Get(i).Message())
			}
		default:
			stripUnknown(v.Message())
		}
		return true
	})
}

// wantLogRecord is what otlploghttp sends for r, but where the codec
// differs from it on purpose: it keeps times before 1970 and severities
// OTLP does not name (otlploghttp sends 0 for both), and sends no body
// for an empty one (otlploghttp sends an empty AnyValue).
func wantLogRecord(r *sdklog.Record) *lpb.LogRecord {
	pb := otlpLogRecord(*r)
	if ts := r.Timestamp(); !ts.IsZero() {
		pb.TimeUnixNano = uint64(ts.UnixNano())
	}
	if ts := r.ObservedTimestamp(); !ts.IsZero() {
		pb.ObservedTimeUnixNano = uint64(ts.UnixNano())
	}
	pb.SeverityNumber = lpb.SeverityNumber(r.Severity())
	if r.Body().Type() == attribute.EMPTY {
		pb.Body = nil
	}
	return pb
}

// TestBatchOTLPWire reads AppendBatch's bytes with the OTLP protobuf types:
// record k, read in order, is what otlploghttp would send for the batch's
// k-th record, with its resource and scope.
func TestBatchOTLPWire(t *testing.T) {
	noEnvironment(t)
	tmpls := templates(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 50 {
		recs := randBatch(rng, tmpls, 1+rng.IntN(30))
		enc, err := recordcodec.AppendBatch(nil, recs)
		if err != nil {
			t.Fatal(err)
		}
		req := unmarshalRequest(t, enc)
		k := 0
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					if k >= len(recs) {
						t.Fatalf("batch %d: more than %d records", i, len(recs))
					}
					r := &recs[k]
					res, scope := r.Resource(), r.InstrumentationScope()
					if !proto.Equal(lr, wantLogRecord(r)) {
						t.Fatalf("batch %d, record %d:\n got %v\nwant %v", i, k, lr, wantLogRecord(r))
					}
					if want := otlpAttrIter(res.Iter()); !equalKVs(rl.GetResource().GetAttributes(), want) || rl.SchemaUrl != res.SchemaURL() {
						t.Fatalf("batch %d, record %d: resource %v %q, want %v %q", i, k, rl.Resource, rl.SchemaUrl, want, res.SchemaURL())
					}
					if want := otlpAttrIter(scope.Attributes.Iter()); sl.GetScope().GetName() != scope.Name || sl.GetScope().GetVersion() != scope.Version ||
						sl.SchemaUrl != scope.SchemaURL || !equalKVs(sl.GetScope().GetAttributes(), want) {
						t.Fatalf("batch %d, record %d: scope %v %q, want %+v", i, k, sl.Scope, sl.SchemaUrl, scope)
					}
					k++
				}
			}
		}
		if k != len(recs) {
			t.Fatalf("batch %d: %d records, want %d", i, k, len(recs))
		}
	}
}

func equalKVs(a, b []*cpb.KeyValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
