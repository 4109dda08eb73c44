package recordcodec

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrInexact is returned, wrapped, by DecodeBatch along with the records
// when the resource of some could not be rebuilt exactly: the environment
// of this process describes a resource (OTEL_RESOURCE_ATTRIBUTES,
// OTEL_SERVICE_NAME) with a key the encoded resource lacks, which the SDK
// adds to every resource a LoggerProvider is given (see Templates). The
// records are otherwise exact; the caller decides whether to export them,
// as with resource.Merge's ErrSchemaURLConflict. (Bytes AppendBatch did not
// write may also hold a scope the SDK changes: an attribute with an empty
// key, which Logger leaves out.)
var ErrInexact = errors.New("steadylog/recordcodec: resource rebuilt with attributes of the environment")

// DecodeBatch decodes the ExportLogsServiceRequest b, written by
// AppendBatch, and appends its records to out in their order, each with
// its resource and instrumentation scope, taking its templates from t (see
// Templates; t may be nil). A record is equal to the one encoded in
// everything Decode restores, and in its resource, scope and dropped
// attribute count (up to 65,536; the SDK has no setter for it, so the record
// carries an attribute count limit equal to its number of attributes,
// which the SDK counts past). The other records carry no attribute limits
// and allow duplicate keys, so that setting their fields changed nothing.
// Strings in the records alias b, which must not be modified while they
// are in use; their resources and scopes do not.
//
// If some resource could not be rebuilt exactly, DecodeBatch returns every
// record and an error wrapping ErrInexact. For bytes that are not such a
// request it returns out unchanged and ErrMalformed; it never panics.
// Unknown fields are skipped, so any OTLP request decodes, but a repeated
// Resource or InstrumentationScope message counts only its last copy
// where protobuf would merge them. A resource and scope are decoded only
// for the records that need them: a ScopeLogs with no records is not
// checked.
func DecodeBatch(b []byte, t *Templates, out []sdklog.Record) ([]sdklog.Record, error) {
	d := batchDecoder{t: t, out: out}
	if err := eachField(b, d.resourceLogs); err != nil {
		clear(d.out[len(out):])
		return out, err
	}
	if d.inexact != "" {
		return d.out, fmt.Errorf("%w: %s", ErrInexact, d.inexact)
	}
	return d.out, nil
}

// batchDecoder holds DecodeBatch's state while it walks the request.
type batchDecoder struct {
	t       *Templates
	out     []sdklog.Record
	inexact string // the first template's that was, or ""
	key     []byte // scratch for Templates.get
	o       origin // the ScopeLogs being decoded
	base    *template
}

func (d *batchDecoder) resourceLogs(num protowire.Number, rl []byte) error {
	if num != requestResourceLogs {
		return nil
	}
	// The schema URL follows the ScopeLogs: read it and the resource first.
	var res, schema []byte
	err := eachField(rl, func(num protowire.Number, v []byte) error {
		switch num {
		case resourceLogsResource:
			res = v
		case resourceLogsSchemaURL:
			schema = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	return eachField(rl, func(num protowire.Number, sl []byte) error {
		if num != resourceLogsScopeLogs {
			return nil
		}
		d.o = origin{res: res, resSchema: schema}
		d.base = nil
		err := eachField(sl, func(num protowire.Number, v []byte) error {
			switch num {
			case scopeLogsScope:
				d.o.scope = v
			case scopeLogsSchemaURL:
				d.o.scopeSchema = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		return eachField(sl, d.logRecord)
	})
}

func (d *batchDecoder) logRecord(num protowire.Number, lr []byte) error {
	if num != scopeLogsLogRecords {
		return nil
	}
	var (
		f     fields
		room  [8]attribute.KeyValue
		attrs []attribute.KeyValue
		tm    *template
		err   error
	)
	if attrs, err = f.decode(lr, room[:0]); err != nil {
		return err
	}
	if f.dropped == 0 {
		if d.base == nil {
			if d.base, d.key, err = d.t.get(&d.o, -1, d.key); err != nil {
				return err
			}
		}
		tm = d.base
	} else {
		// A template whose count limit is the number of attributes.
		valid := 0
		for _, kv := range attrs {
			if kv.Valid() {
				valid++
			}
		}
		if tm, d.key, err = d.t.get(&d.o, valid, d.key); err != nil {
			return err
		}
	}
	if tm.inexact != "" && d.inexact == "" {
		d.inexact = tm.inexact
	}
	d.out = append(d.out, tm.rec)
	r := &d.out[len(d.out)-1]
	f.set(r, attrs)
	restoreDropped(r, int(min(f.dropped, maxRestoredDropped)))
	return nil
}
