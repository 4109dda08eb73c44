package harness

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is how often readiness and progress conditions are re-checked.
const pollInterval = 20 * time.Millisecond

// Poll calls cond every interval until it reports done, returns an error, or ctx
// ends. On ctx's end the last condition error (if any) is included, so a timeout
// says what was still wrong rather than only "deadline exceeded".
func Poll(ctx context.Context, interval time.Duration, cond func() (done bool, err error)) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last error
	for {
		done, err := cond()
		if done {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
