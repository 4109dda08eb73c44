package retry_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/steadylog/steadylog/retry"
)

func ExamplePermanent() {
	err := retry.Permanent(errors.New("400 Bad Request"))
	fmt.Println(err, retry.IsPermanent(err))
	// Output: 400 Bad Request true
}

func ExampleAfter() {
	err := retry.After(errors.New("429 Too Many Requests"), 30*time.Second)
	d, ok := retry.Delay(fmt.Errorf("export: %w", err))
	fmt.Println(d, ok)
	// Output: 30s true
}
