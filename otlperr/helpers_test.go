package otlperr

import (
	"errors"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/recordtest"
)

var errBackend = errors.New("backend down")

// makeRecords returns n real records with bodies "0", "1", ...
func makeRecords(t *testing.T, n int) []sdklog.Record {
	t.Helper()
	return recordtest.Numbered(n)
}
