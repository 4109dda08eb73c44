package integration

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.uber.org/goleak"
)

// sdkErrors receives what the OTel SDK reports through otel.Handle (the SDK
// BatchProcessor's export failures), which would otherwise flood stderr with a
// line per failed export during the outage tests.
var sdkErrors = &errorCounter{}

func TestMain(m *testing.M) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(sdkErrors.handle))
	goleak.VerifyTestMain(m)
}
