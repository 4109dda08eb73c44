package recordcodec

import (
	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Resource and InstrumentationScope fields
// (opentelemetry/proto/resource/v1, opentelemetry/proto/common/v1).
const (
	resourceAttributes protowire.Number = 1

	scopeName       protowire.Number = 1
	scopeVersion    protowire.Number = 2
	scopeAttributes protowire.Number = 3
)

// appendResource appends the fields of a Resource message holding the
// attributes of res, in the order of its attribute set. Its schema URL
// belongs to the enclosing ResourceLogs.
func appendResource(b []byte, res *resource.Resource) ([]byte, error) {
	return appendAttrSet(b, resourceAttributes, res.Iter())
}

// appendScope appends the fields of an InstrumentationScope message holding
// s but its schema URL, which belongs to the enclosing ScopeLogs.
func appendScope(b []byte, s instrumentation.Scope) ([]byte, error) {
	b = appendString(b, scopeName, s.Name)
	b = appendString(b, scopeVersion, s.Version)
	return appendAttrSet(b, scopeAttributes, s.Attributes.Iter())
}

func appendAttrSet(b []byte, num protowire.Number, it attribute.Iterator) ([]byte, error) {
	for it.Next() {
		var (
			start int
			err   error
		)
		b, start = beginMessage(b, num)
		if b, err = appendKeyValue(b, it.Attribute(), 1); err != nil {
			return b, err
		}
		b = endMessage(b, start)
	}
	return b, nil
}

// decodeResource decodes a Resource message and the schema URL of its
// ResourceLogs. The resource keeps strings of b: b must be a copy that is
// never modified, for resources outlive the batch (see Templates).
func decodeResource(b []byte, schemaURL string) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	err := eachField(b, func(num protowire.Number, v []byte) error {
		if num != resourceAttributes {
			return nil
		}
		kv, err := decodeKeyValue(v, 1)
		attrs = append(attrs, kv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resource.NewWithAttributes(schemaURL, attrs...), nil
}

// decodeScope decodes an InstrumentationScope message and the schema URL of
// its ScopeLogs. The scope keeps strings of b, as decodeResource's does.
func decodeScope(b []byte, schemaURL string) (instrumentation.Scope, error) {
	s := instrumentation.Scope{SchemaURL: schemaURL}
	var attrs []attribute.KeyValue
	err := eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case scopeName:
			s.Name = alias(v)
		case scopeVersion:
			s.Version = alias(v)
		case scopeAttributes:
			kv, err := decodeKeyValue(v, 1)
			attrs = append(attrs, kv)
			return err
		}
		return nil
	})
	s.Attributes = attribute.NewSet(attrs...)
	return s, err
}

// eachField calls f with each length-delimited field of the message b, in
// order, and skips the others.
func eachField(b []byte, f func(num protowire.Number, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return ErrMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		if err := f(num, v); err != nil {
			return err
		}
	}
	return nil
}
