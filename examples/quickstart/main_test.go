package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstart(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(&stdout, &stderr))

	var bodies []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var rec struct {
			Body struct{ Value string }
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), sc.Text())
		bodies = append(bodies, rec.Body.Value)
	}
	assert.Equal(t, []string{"service started", "cache miss rate high", "payment failed"}, bodies)
	assert.Equal(t, "steadylog: received=3 exported=3 queued=0 queued_bytes=0 in_flight=0 dropped=0\n", stderr.String())
}
