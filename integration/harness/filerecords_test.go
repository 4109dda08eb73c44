package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadRecords(t *testing.T) {
	line := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},` +
		`"scopeLogs":[{"scope":{"name":"a","version":"1.0"},"schemaUrl":"https://s/1","logRecords":[` +
		`{"timeUnixNano":"12","severityNumber":9,"severityText":"INFO","body":{"stringValue":"hello"},` +
		`"attributes":[{"key":"seq","value":{"intValue":"7"}},{"key":"ok","value":{"boolValue":true}},` +
		`{"key":"f","value":{"doubleValue":1.5}},` +
		`{"key":"user","value":{"kvlistValue":{"values":[{"key":"id","value":{"stringValue":"u"}},` +
		`{"key":"roles","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"2"}]}}}]}}}],` +
		`"traceId":"0102","spanId":"03"}]}]}]}`
	path := filepath.Join(t.TempDir(), "out.json")
	require.NoError(t, os.WriteFile(path, []byte(line+"\n"+line+"\n"), 0o600))

	recs, err := ReadRecords(path)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	r := recs[0]
	assert.Equal(t, map[string]any{"service.name": "svc"}, r.Resource)
	assert.Equal(t, "a", r.ScopeName)
	assert.Equal(t, "1.0", r.ScopeVersion)
	assert.Equal(t, "https://s/1", r.ScopeSchema)
	assert.Equal(t, "12", r.TimeUnixNano)
	assert.Equal(t, 9, r.SeverityNumber)
	assert.Equal(t, "INFO", r.SeverityText)
	assert.Equal(t, "hello", r.Body)
	assert.Equal(t, map[string]any{
		"seq": int64(7), "ok": true, "f": 1.5,
		"user": map[string]any{"id": "u", "roles": []any{"x", int64(2)}},
	}, r.Attributes)
	assert.Equal(t, "0102", r.TraceID)
	assert.Equal(t, "03", r.SpanID)

	missing, err := ReadRecords(filepath.Join(t.TempDir(), "none.json"))
	require.NoError(t, err)
	assert.Empty(t, missing)

	require.NoError(t, os.WriteFile(path, []byte(line[:40]+"\n"), 0o600))
	_, err = ReadRecords(path)
	assert.ErrorContains(t, err, "line 1")
}
