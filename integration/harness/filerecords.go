package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// FileRecord is one log record of a file exporter output, with the
// resource and scope it came under: what a test compares with what it
// emitted. Values are decoded from OTLP/JSON into Go values: string,
// int64, float64, bool, []any (arrayValue) and map[string]any
// (kvlistValue); bytesValue stays its base64 string.
type FileRecord struct {
	Resource       map[string]any
	ResourceSchema string
	ScopeName      string
	ScopeVersion   string
	ScopeSchema    string
	ScopeAttrs     map[string]any
	TimeUnixNano   string
	SeverityNumber int
	SeverityText   string
	Body           any
	Attributes     map[string]any
	TraceID        string
	SpanID         string
	EventName      string
}

type otlpValue struct {
	StringValue *string                        `json:"stringValue"`
	IntValue    json.RawMessage                `json:"intValue"`
	DoubleValue *json.Number                   `json:"doubleValue"`
	BoolValue   *bool                          `json:"boolValue"`
	BytesValue  *string                        `json:"bytesValue"`
	ArrayValue  *struct{ Values []otlpValue }  `json:"arrayValue"`
	KvlistValue *struct{ Values []otlpFullKV } `json:"kvlistValue"`
}

type otlpFullKV struct {
	Key   string    `json:"key"`
	Value otlpValue `json:"value"`
}

type otlpFullLine struct {
	ResourceLogs []struct {
		Resource struct {
			Attributes []otlpFullKV `json:"attributes"`
		} `json:"resource"`
		SchemaURL string `json:"schemaUrl"`
		ScopeLogs []struct {
			Scope struct {
				Name       string       `json:"name"`
				Version    string       `json:"version"`
				Attributes []otlpFullKV `json:"attributes"`
			} `json:"scope"`
			SchemaURL  string `json:"schemaUrl"`
			LogRecords []struct {
				TimeUnixNano   string       `json:"timeUnixNano"`
				SeverityNumber int          `json:"severityNumber"`
				SeverityText   string       `json:"severityText"`
				Body           *otlpValue   `json:"body"`
				Attributes     []otlpFullKV `json:"attributes"`
				TraceID        string       `json:"traceId"`
				SpanID         string       `json:"spanId"`
				EventName      string       `json:"eventName"`
			} `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

// ReadRecords reads every log record of a file exporter output (JSON lines
// of OTLP log requests), in file order. A file that does not exist yet
// holds none. A line that is not one whole JSON document is an error: read
// the file once the Collector has stopped gracefully.
func ReadRecords(path string) ([]FileRecord, error) {
	var out []FileRecord
	err := eachLine(path, func(n int, line []byte) error {
		var l otlpFullLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&l); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, n, err)
		}
		out = l.appendRecords(out)
		return nil
	})
	return out, err
}

func (l *otlpFullLine) appendRecords(out []FileRecord) []FileRecord {
	for _, rl := range l.ResourceLogs {
		res := kvMap(rl.Resource.Attributes)
		for _, sl := range rl.ScopeLogs {
			scopeAttrs := kvMap(sl.Scope.Attributes)
			for _, lr := range sl.LogRecords {
				var body any
				if lr.Body != nil {
					body = lr.Body.value()
				}
				out = append(out, FileRecord{
					Resource: res, ResourceSchema: rl.SchemaURL,
					ScopeName: sl.Scope.Name, ScopeVersion: sl.Scope.Version,
					ScopeSchema: sl.SchemaURL, ScopeAttrs: scopeAttrs,
					TimeUnixNano: lr.TimeUnixNano, SeverityNumber: lr.SeverityNumber,
					SeverityText: lr.SeverityText, Body: body,
					Attributes: kvMap(lr.Attributes),
					TraceID:    lr.TraceID, SpanID: lr.SpanID, EventName: lr.EventName,
				})
			}
		}
	}
	return out
}

func kvMap(kvs []otlpFullKV) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.value()
	}
	return m
}

func (v otlpValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case len(v.IntValue) > 0:
		n, err := strconv.ParseInt(string(bytes.Trim(v.IntValue, `"`)), 10, 64)
		if err != nil {
			return string(v.IntValue)
		}
		return n
	case v.DoubleValue != nil:
		f, err := v.DoubleValue.Float64()
		if err != nil {
			return v.DoubleValue.String()
		}
		return f
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		out := make([]any, len(v.ArrayValue.Values))
		for i, e := range v.ArrayValue.Values {
			out[i] = e.value()
		}
		return out
	case v.KvlistValue != nil:
		return kvMap(v.KvlistValue.Values)
	}
	return nil
}
