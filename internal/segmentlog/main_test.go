package segmentlog

import (
	"errors"
	"fmt"
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
	if !supported {
		// Every test opens a Log; here Open must refuse.
		if _, _, err := Open(os.TempDir(), Options{Consumers: []string{"a"}}); !errors.Is(err, ErrUnsupported) {
			fmt.Println("Open on an unsupported platform:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
