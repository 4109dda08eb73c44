package otlperr

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/steadylog/steadylog/retry"
)

// Classify marks the errors of the OTLP log exporters
// (go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp and
// otlploggrpc, v0.23.0) for the breaker and for retry logic, and returns
// every other error unchanged. The result wraps err, so errors.Is and
// errors.As still see everything they saw before. It is a
// [retry.Classifier].
//
// Permanent ([retry.Permanent]: do not retry, not the backend's fault):
//
//   - HTTP 4xx responses other than 429 (otlploghttp returns "failed to send
//     logs to URL: 400 Bad Request (body: ...)");
//   - gRPC InvalidArgument, NotFound, AlreadyExists, PermissionDenied,
//     FailedPrecondition, Unimplemented and Unauthenticated;
//   - OTLP partial success (the backend accepted the batch but rejected some
//     records: resending would duplicate the rest);
//   - a request larger than the exporter's maximum request size;
//   - [sdklog.ErrExporterShutdown].
//
// Transient, with the server's delay ([retry.After]) when it sent one:
//
//   - HTTP 429, 502, 503, 504 and temporary network errors, which otlploghttp
//     returns as its internal retryable error; its Retry-After header value
//     is read from that error;
//   - gRPC Unavailable, ResourceExhausted, Aborted, OutOfRange, DataLoss,
//     Internal and Unknown, with the delay of a RetryInfo detail;
//   - other 5xx responses, connection refused, and timeouts, which are left
//     unchanged (the breaker's default classifier counts them as failures).
//
// A gRPC DeadlineExceeded or Canceled status is made to match
// [context.DeadlineExceeded] or [context.Canceled] with errors.Is, so that
// the breaker's DefaultClassify counts the first (a hung backend) and
// ignores the second (the caller gave up).
//
// What is inferred rather than read from an exported API (see the package
// documentation): the HTTP status of a non-retryable response, from the
// error's text; the Retry-After delay, from a private field of otlploghttp's
// retryable error; partial success and the retryable error, by the name
// and package of their unexported types; an oversized request, from the
// error's text. Tests pin all four to v0.23.0; a change in a later version
// loses that piece of classification (the error passes unchanged, or
// without its delay), never misclassifies a success.
func Classify(err error) error {
	if err == nil || retry.IsPermanent(err) {
		return err
	}
	if errors.Is(err, sdklog.ErrExporterShutdown) {
		return retry.Permanent(err)
	}
	if s, ok := grpcStatus(err); ok {
		return classifyGRPC(err, s)
	}

	var permanent bool
	var delay time.Duration
	walk(err, func(e error) {
		switch {
		case isOTLPType(e, "PartialSuccess"):
			permanent = true
		case isOTLPType(e, "retryableError"):
			delay = max(delay, throttleOf(e))
		}
	})
	msg := err.Error()
	if code, ok := httpStatus(msg); ok && code >= 400 && code < 500 && code != 429 {
		permanent = true
	}
	if strings.Contains(msg, "request body too large: exceeded") ||
		strings.Contains(msg, "request message too large: exceeded") {
		permanent = true
	}
	switch {
	case permanent:
		return retry.Permanent(err)
	case delay > 0:
		return retry.After(err, delay)
	}
	return err
}

func grpcStatus(err error) (*status.Status, bool) {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return nil, false
	}
	s := se.GRPCStatus()
	return s, s != nil && s.Code() != codes.OK
}

func classifyGRPC(err error, s *status.Status) error {
	switch s.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.FailedPrecondition, codes.Unimplemented, codes.Unauthenticated:
		return retry.Permanent(err)
	case codes.Canceled:
		if !errors.Is(err, context.Canceled) {
			err = &alsoIs{err: err, target: context.Canceled}
		}
	case codes.DeadlineExceeded:
		if !errors.Is(err, context.DeadlineExceeded) {
			err = &alsoIs{err: err, target: context.DeadlineExceeded}
		}
	}
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return retry.After(err, ri.GetRetryDelay().AsDuration())
		}
	}
	return err
}

// alsoIs makes err match target with errors.Is, without changing its text.
type alsoIs struct {
	err    error
	target error
}

func (e *alsoIs) Error() string        { return e.err.Error() }
func (e *alsoIs) Unwrap() error        { return e.err }
func (e *alsoIs) Is(target error) bool { return target == e.target }

// httpStatusRE matches otlploghttp's error for a non-retryable response:
// "failed to send logs to URL: 400 Bad Request (body: ...)".
var httpStatusRE = regexp.MustCompile(`failed to send logs to \S+: (\d{3})\b`)

func httpStatus(msg string) (int, bool) {
	m := httpStatusRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	code, err := strconv.Atoi(m[1])
	return code, err == nil
}

// walk calls fn on err and every error it wraps, depth first.
func walk(err error, fn func(error)) {
	for err != nil {
		fn(err)
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, fn)
			}
			return
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return
		}
	}
}

const otlpLogPkg = "go.opentelemetry.io/otel/exporters/otlp/otlplog/"

// isOTLPType reports whether e's dynamic type is the named type of one of
// the OTLP log exporters' packages.
func isOTLPType(e error, name string) bool {
	t := reflect.TypeOf(e)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name() == name && strings.HasPrefix(t.PkgPath(), otlpLogPkg)
}

// throttleOf reads the Retry-After delay otlploghttp keeps in the private
// "throttle" field of its retryable error.
func throttleOf(e error) time.Duration {
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	f := v.FieldByName("throttle")
	if !f.IsValid() || f.Kind() != reflect.Int64 {
		return 0
	}
	return time.Duration(f.Int())
}
