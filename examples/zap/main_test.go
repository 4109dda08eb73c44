package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZap(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(&stdout, &stderr))

	// Only the fields asserted on are decoded: timestamps are left out.
	type record struct {
		Severity     int
		SeverityText string
		Body         string
		Attributes   map[string]any
	}
	var got []record
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var rec struct {
			Severity     int
			SeverityText string
			Body         struct{ Value string }
			Attributes   []struct {
				Key   string
				Value struct{ Value any }
			}
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), sc.Text())
		attrs := make(map[string]any, len(rec.Attributes))
		for _, kv := range rec.Attributes {
			attrs[kv.Key] = kv.Value.Value
		}
		got = append(got, record{rec.Severity, rec.SeverityText, rec.Body.Value, attrs})
	}
	require.NoError(t, sc.Err())

	assert.Equal(t, []record{
		{9, "info", "service started", map[string]any{"version": "1.4.2", "port": 8080.0}},
		{13, "warn", "payment retry", map[string]any{
			"request_id": "7f3a9c", "route": "/checkout", "attempt": 2.0,
			"exception.message": "card declined", "exception.type": "*errors.errorString",
		}},
		{17, "error", "payment failed", map[string]any{"request_id": "7f3a9c", "route": "/checkout", "order": 1337.0}},
	}, got)
	assert.Equal(t, "steadylog: received=3 exported=3 queued=0 queued_bytes=0 in_flight=0 dropped=0\n", stderr.String())
}
