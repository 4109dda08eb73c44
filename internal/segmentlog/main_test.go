package segmentlog

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv names the child-process role a test re-executes the test binary
// in (see runChild).
const childEnv = "SEGMENTLOG_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	goleak.VerifyTestMain(m)
}
