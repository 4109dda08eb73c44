package recordcodec

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
)

// ExportLogsServiceRequest, ResourceLogs and ScopeLogs fields
// (opentelemetry/proto/collector/logs/v1, opentelemetry/proto/logs/v1).
const (
	requestResourceLogs protowire.Number = 1

	resourceLogsResource  protowire.Number = 1
	resourceLogsScopeLogs protowire.Number = 2
	resourceLogsSchemaURL protowire.Number = 3

	scopeLogsScope      protowire.Number = 1
	scopeLogsLogRecords protowire.Number = 2
	scopeLogsSchemaURL  protowire.Number = 3
)

// AppendBatch appends recs, encoded as the fields of one OTLP
// ExportLogsServiceRequest, to dst: bytes an OTLP exporter could send as
// they are. On error it returns dst unchanged and an error that wraps
// ErrUnsupported and names the record.
//
// The order of recs is kept: DecodeBatch gives record k back as its k-th.
// So each run of consecutive records with the same resource (the same
// pointer, or Equal with the same schema URL) is one ResourceLogs, and
// each run within it with the same instrumentation scope one ScopeLogs; a
// resource or scope that comes back later starts a new one, which OTLP
// allows. A resource with no attributes has no Resource message, and the
// zero scope no InstrumentationScope message, as in the SDK's OTLP
// exporters; both decode as empty.
func AppendBatch(dst []byte, recs []sdklog.Record) ([]byte, error) {
	return appendBatch(dst, len(recs),
		func(k int) *sdklog.Record { return &recs[k] },
		func(b []byte, k int) ([]byte, error) { return Append(b, &recs[k]) })
}

// AppendEncodedBatch is AppendBatch for n records encoded already: record
// k is enc(k), the bytes Append gave for it, and has the resource and
// instrumentation scope of origin(k), whose other fields are not read. It
// appends the bytes AppendBatch appends for the records themselves,
// without encoding them again. On error it returns dst unchanged and an
// error that wraps ErrUnsupported and names the record.
func AppendEncodedBatch(dst []byte, n int, origin func(k int) *sdklog.Record, enc func(k int) []byte) ([]byte, error) {
	return appendBatch(dst, n, origin, func(b []byte, k int) ([]byte, error) { return append(b, enc(k)...), nil })
}

// appendBatch appends n records as AppendBatch does: origin(k) gives
// record k's resource and scope, and record appends its LogRecord fields.
func appendBatch(dst []byte, n int, origin func(k int) *sdklog.Record, record func(b []byte, k int) ([]byte, error)) ([]byte, error) {
	b := dst
	for i := 0; i < n; {
		res := origin(i).Resource()
		var (
			rl  int
			err error
		)
		b, rl = beginMessage(b, requestResourceLogs)
		if res.Len() > 0 {
			var start int
			b, start = beginMessage(b, resourceLogsResource)
			if b, err = appendResource(b, res); err != nil {
				return dst, fmt.Errorf("record %d: resource: %w", i, err)
			}
			b = endMessage(b, start)
		}
		// Each ScopeLogs takes at least one record, even one whose scope is
		// not equal to itself (a NaN among its attributes).
		for {
			scope := origin(i).InstrumentationScope()
			var sl int
			b, sl = beginMessage(b, resourceLogsScopeLogs)
			if !sameScope(scope, instrumentation.Scope{}) {
				var start int
				b, start = beginMessage(b, scopeLogsScope)
				if b, err = appendScope(b, scope); err != nil {
					return dst, fmt.Errorf("record %d: instrumentation scope: %w", i, err)
				}
				b = endMessage(b, start)
			}
			for {
				var start int
				b, start = beginMessage(b, scopeLogsLogRecords)
				if b, err = record(b, i); err != nil {
					return dst, fmt.Errorf("record %d: %w", i, err)
				}
				b = endMessage(b, start)
				i++
				if i == n {
					break
				}
				if next := origin(i); !sameResource(res, next.Resource()) || !sameScope(scope, next.InstrumentationScope()) {
					break
				}
			}
			b = appendString(b, scopeLogsSchemaURL, scope.SchemaURL)
			b = endMessage(b, sl)
			if i == n || !sameResource(res, origin(i).Resource()) {
				break
			}
		}
		b = appendString(b, resourceLogsSchemaURL, res.SchemaURL())
		b = endMessage(b, rl)
	}
	return b, nil
}

// sameResource reports whether a record of b's belongs to the ResourceLogs
// of a: the same resource, cheaply when it is the same pointer, as records
// of one LoggerProvider are. Resource.Equal compares attributes only, so
// the schema URL is compared too.
func sameResource(a, b *resource.Resource) bool {
	return a == b || (a.Equal(b) && a.SchemaURL() == b.SchemaURL())
}

// sameScope reports whether a and b are the same instrumentation scope.
func sameScope(a, b instrumentation.Scope) bool {
	return a.Name == b.Name && a.Version == b.Version && a.SchemaURL == b.SchemaURL && a.Attributes.Equals(&b.Attributes)
}
