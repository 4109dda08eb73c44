package otlperr_test

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/otlperr"
	"github.com/steadylog/steadylog/retry"
)

func ExampleClassify() {
	for _, err := range []error{
		status.Error(codes.InvalidArgument, "malformed log record"),
		status.Error(codes.Unavailable, "collector restarting"),
		errors.New("failed to send logs to http://collector:4318/v1/logs: 400 Bad Request (body: bad)"),
	} {
		c := otlperr.Classify(err)
		fmt.Println(retry.IsPermanent(c), breaker.DefaultClassify(c))
	}
	// Output:
	// true ignored
	// false failure
	// true ignored
}
