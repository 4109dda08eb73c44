// Package recordcodec encodes [sdklog.Record]s in the OTLP protobuf wire
// format and decodes them back, one record at a time or a batch at a time.
//
// # One record
//
// Append encodes a record's own fields as an OTLP LogRecord message
// (opentelemetry/proto/logs/v1/logs.proto) and Decode sets them on a
// record, as the processor's packed chunks do:
//
//	enc, err := recordcodec.Append(buf[:0], &r)
//	…
//	got := tmpl // a copy of a record from the same Logger as r
//	dropped, err := recordcodec.Decode(enc, &got)
//
// The record's resource, instrumentation scope and attribute limits are not
// encoded: sdklog.Record has no setters for them, so Decode fills a record
// that carries them already. Decode(Append(r)) gives a record equal to r in
// every field an exporter reads — event name, timestamps (the same instant;
// the location and monotonic reading are not kept), severity and its text,
// body, attributes in order, trace and span id, trace flags — except the
// count of attributes the SDK dropped for its limits, which Decode returns
// and cannot set.
//
// # A batch
//
// AppendBatch encodes records with their resources and scopes as an OTLP
// ExportLogsServiceRequest (opentelemetry/proto/collector/logs/v1), which an
// OTLP exporter could send as it is, and DecodeBatch gives them back in
// their order, each with its resource, scope and dropped attribute count,
// as a durable spool replays a payload after a restart:
//
//	payload, err := recordcodec.AppendBatch(nil, recs)
//	…
//	templates := recordcodec.NewTemplates(recordcodec.DefaultTemplates) // one per process
//	replayed, err := recordcodec.DecodeBatch(payload, templates, nil)
//	if errors.Is(err, recordcodec.ErrInexact) { … } // the environment added resource attributes
//
// DecodeBatch rebuilds resources and scopes through Templates: records
// emitted once by a private LoggerProvider with the decoded resource and
// Logger scope, which it copies and sets each record's fields on.
//
// # The encoding
//
// The encoding is OTLP's, with one addition: an AnyValue that came from a
// typed slice (attribute.BOOLSLICE, INT64SLICE, FLOAT64SLICE, STRINGSLICE)
// carries its type in field 15, which OTLP receivers skip as an unknown
// field, so that decoding gives back the same attribute.Type rather than a
// generic SLICE. Timestamps before 1970 and severities OTLP does not name
// are kept as they are, where the SDK's OTLP exporters send 0.
//
// Strings in decoded records alias the encoded bytes: those must not be
// modified while the records are in use.
package recordcodec
