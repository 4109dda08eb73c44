package otlperr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/retry"
)

// verdict is what the classifier made of an error, as the breaker and a
// retry loop see it.
type verdict struct {
	Outcome    breaker.Outcome
	Permanent  bool
	RetryAfter time.Duration
}

func judge(err error) verdict {
	c := Classify(err)
	d, _ := retry.Delay(c)
	return verdict{Outcome: breaker.DefaultClassify(c), Permanent: retry.IsPermanent(c), RetryAfter: d}
}

var (
	permanent = verdict{Outcome: breaker.OutcomeIgnored, Permanent: true}
	transient = verdict{Outcome: breaker.OutcomeFailure}
)

func transientAfter(d time.Duration) verdict {
	return verdict{Outcome: breaker.OutcomeFailure, RetryAfter: d}
}

func TestClassifyUnit(t *testing.T) {
	assert.NoError(t, Classify(nil))
	assert.Same(t, errBackend, Classify(errBackend), "unknown errors pass unchanged")
	p := retry.Permanent(errBackend)
	assert.Same(t, p, Classify(p))
	assert.Equal(t, permanent, judge(sdklog.ErrExporterShutdown))
	assert.Equal(t, permanent, judge(fmt.Errorf("x: %w", sdklog.ErrExporterShutdown)))
	assert.Equal(t, permanent, judge(errors.New("request message too large: exceeded 10 bytes")))
	assert.Equal(t, permanent, judge(errors.New("request body too large: exceeded 10 bytes")))
	assert.Equal(t, transient, judge(errors.New("failed to send logs to http://h:1/v1/logs: 500 Internal Server Error (body: x)")))
	assert.Equal(t, permanent, judge(errors.New("failed to send logs to http://h:1/v1/logs: 404 Not Found (body: x)")))
	assert.Equal(t, transient, judge(errors.New("failed to send logs to nowhere")), "no status code")

	withRetryInfo := func(c codes.Code, d time.Duration) error {
		s, err := status.New(c, "busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		require.NoError(t, err)
		return s.Err()
	}
	for _, tc := range []struct {
		err  error
		want verdict
	}{
		{status.Error(codes.InvalidArgument, "bad"), permanent},
		{status.Error(codes.NotFound, "x"), permanent},
		{status.Error(codes.AlreadyExists, "x"), permanent},
		{status.Error(codes.PermissionDenied, "x"), permanent},
		{status.Error(codes.FailedPrecondition, "x"), permanent},
		{status.Error(codes.Unimplemented, "x"), permanent},
		{status.Error(codes.Unauthenticated, "x"), permanent},
		{status.Error(codes.Unavailable, "x"), transient},
		{status.Error(codes.Internal, "x"), transient},
		{status.Error(codes.Unknown, "x"), transient},
		{status.Error(codes.Aborted, "x"), transient},
		{status.Error(codes.DataLoss, "x"), transient},
		{status.Error(codes.OutOfRange, "x"), transient},
		{status.Error(codes.ResourceExhausted, "x"), transient},
		{status.Error(codes.DeadlineExceeded, "x"), transient},
		{status.Error(codes.Canceled, "x"), verdict{Outcome: breaker.OutcomeIgnored}},
		{withRetryInfo(codes.Unavailable, 3*time.Second), transientAfter(3 * time.Second)},
		{withRetryInfo(codes.ResourceExhausted, time.Minute), transientAfter(time.Minute)},
		{fmt.Errorf("max retry time elapsed: %w", withRetryInfo(codes.Unavailable, time.Second)), transientAfter(time.Second)},
		{errors.Join(withRetryInfo(codes.Unavailable, 2*time.Second)), transientAfter(2 * time.Second)},
	} {
		assert.Equal(t, tc.want, judge(tc.err), "%v", tc.err)
	}

	canceled := Classify(status.Error(codes.Canceled, "gone"))
	assert.ErrorIs(t, canceled, context.Canceled)
	assert.Equal(t, "rpc error: code = Canceled desc = gone", canceled.Error(), "text unchanged")
	assert.Equal(t, codes.Canceled, status.Code(canceled), "still a gRPC status")
	deadline := Classify(status.Error(codes.DeadlineExceeded, "slow"))
	assert.ErrorIs(t, deadline, context.DeadlineExceeded)
	already := fmt.Errorf("%w: %w", context.DeadlineExceeded, status.Error(codes.DeadlineExceeded, "slow"))
	assert.Same(t, already, Classify(already))
}

func TestWalk(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	var seen []string
	walk(fmt.Errorf("top: %w", errors.Join(a, fmt.Errorf("mid: %w", b), c)), func(e error) { seen = append(seen, e.Error()) })
	assert.Equal(t, []string{"top: a\nmid: b\nc", "a\nmid: b\nc", "a", "mid: b", "b", "c"}, seen)
}

func TestThrottleOfIgnoresOtherShapes(t *testing.T) {
	assert.Zero(t, throttleOf(errBackend))
	assert.Zero(t, throttleOf((*exporter.PanicError)(nil)))
	assert.Zero(t, throttleOf(&exporter.MemberError{}))
	type throttled struct{ error }
	assert.Zero(t, throttleOf(throttled{errBackend}))
}

// --- real otlploghttp exporter against a local HTTP server ---

type httpReply struct {
	status  int
	header  map[string]string
	body    []byte
	ctype   string
	blockOn chan struct{} // if set, wait for it or for the client to give up
}

func newHTTPServer(t *testing.T) (*httptest.Server, func(httpReply)) {
	var mu sync.Mutex
	var reply httpReply
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		rep := reply
		mu.Unlock()
		if rep.blockOn != nil {
			select {
			case <-rep.blockOn:
			case <-r.Context().Done():
			}
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if rep.ctype != "" {
			w.Header().Set("Content-Type", rep.ctype)
		}
		w.WriteHeader(rep.status)
		_, _ = w.Write(rep.body)
	}))
	t.Cleanup(srv.Close)
	return srv, func(r httpReply) {
		mu.Lock()
		reply = r
		mu.Unlock()
	}
}

func newHTTPExporter(t *testing.T, url string, retry otlploghttp.RetryConfig) sdklog.Exporter {
	exp, err := otlploghttp.New(context.Background(),
		otlploghttp.WithEndpointURL(url+"/v1/logs"), otlploghttp.WithRetry(retry))
	require.NoError(t, err)
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

func TestClassifyWithRealHTTPExporter(t *testing.T) {
	srv, set := newHTTPServer(t)
	exp := newHTTPExporter(t, srv.URL, otlploghttp.RetryConfig{Enabled: false})
	recs := makeRecords(t, 2)

	partial, err := proto.Marshal(&collogpb.ExportLogsServiceResponse{
		PartialSuccess: &collogpb.ExportLogsPartialSuccess{RejectedLogRecords: 1, ErrorMessage: "bad record"},
	})
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		reply httpReply
		want  verdict
	}{
		{"400", httpReply{status: 400, body: []byte("malformed")}, permanent},
		{"401", httpReply{status: 401}, permanent},
		{"403", httpReply{status: 403}, permanent},
		{"404", httpReply{status: 404}, permanent},
		{"413", httpReply{status: 413}, permanent},
		{"429 with Retry-After", httpReply{status: 429, header: map[string]string{"Retry-After": "7"}}, transientAfter(7 * time.Second)},
		{"429 without Retry-After", httpReply{status: 429}, transient},
		{"500", httpReply{status: 500}, transient},
		{"502", httpReply{status: 502}, transient},
		{"503 with Retry-After", httpReply{status: 503, header: map[string]string{"Retry-After": "30"}}, transientAfter(30 * time.Second)},
		{"504", httpReply{status: 504}, transient},
		{"partial success", httpReply{status: 200, ctype: "application/x-protobuf", body: partial}, permanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set(tc.reply)
			err := exp.Export(context.Background(), recs)
			require.Error(t, err)
			assert.Equal(t, tc.want, judge(err), "error: %v", err)
			t.Logf("%v", err)
		})
	}

	set(httpReply{status: 200})
	assert.NoError(t, exp.Export(context.Background(), recs))
}

func TestClassifyWithRealHTTPExporterRetrying(t *testing.T) {
	srv, set := newHTTPServer(t)
	// The exporter's own retries give up at once because the server's delay
	// exceeds their budget; the delay must survive the wrapping.
	exp := newHTTPExporter(t, srv.URL, otlploghttp.RetryConfig{
		Enabled: true, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxElapsedTime: time.Second,
	})
	set(httpReply{status: 503, header: map[string]string{"Retry-After": "9"}})
	err := exp.Export(context.Background(), makeRecords(t, 1))
	require.ErrorContains(t, err, "max retry time would elapse")
	assert.Equal(t, transientAfter(9*time.Second), judge(err))

	set(httpReply{status: 400})
	err = exp.Export(context.Background(), makeRecords(t, 1))
	assert.Equal(t, permanent, judge(err), "4xx is not retried and stays permanent")
}

func TestClassifyHTTPConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	exp := newHTTPExporter(t, "http://"+addr, otlploghttp.RetryConfig{Enabled: false})
	err = exp.Export(context.Background(), makeRecords(t, 1))
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, transient, judge(err))
}

func TestClassifyHTTPTimeout(t *testing.T) {
	srv, set := newHTTPServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	set(httpReply{blockOn: release})
	exp := newHTTPExporter(t, srv.URL, otlploghttp.RetryConfig{Enabled: false})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := exp.Export(ctx, makeRecords(t, 1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, transient, judge(err), "a hung backend counts against it")
}

// --- real otlploggrpc exporter against a local gRPC server ---

type logsServer struct {
	collogpb.UnimplementedLogsServiceServer
	mu    sync.Mutex
	reply func() (*collogpb.ExportLogsServiceResponse, error)
}

func (s *logsServer) Export(context.Context, *collogpb.ExportLogsServiceRequest) (*collogpb.ExportLogsServiceResponse, error) {
	s.mu.Lock()
	r := s.reply
	s.mu.Unlock()
	return r()
}

func (s *logsServer) set(r func() (*collogpb.ExportLogsServiceResponse, error)) {
	s.mu.Lock()
	s.reply = r
	s.mu.Unlock()
}

func newGRPCExporter(t *testing.T) (sdklog.Exporter, *logsServer) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ls := &logsServer{}
	gs := grpc.NewServer()
	collogpb.RegisterLogsServiceServer(gs, ls)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-served
	})

	exp, err := otlploggrpc.New(context.Background(),
		otlploggrpc.WithEndpoint(lis.Addr().String()), otlploggrpc.WithInsecure(),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp, ls
}

func TestClassifyWithRealGRPCExporter(t *testing.T) {
	exp, srv := newGRPCExporter(t)
	recs := makeRecords(t, 2)

	fail := func(s *status.Status) func() (*collogpb.ExportLogsServiceResponse, error) {
		return func() (*collogpb.ExportLogsServiceResponse, error) { return nil, s.Err() }
	}
	withDelay := func(c codes.Code, d time.Duration) *status.Status {
		s, err := status.New(c, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		require.NoError(t, err)
		return s
	}
	for _, tc := range []struct {
		name  string
		reply func() (*collogpb.ExportLogsServiceResponse, error)
		want  verdict
	}{
		{"InvalidArgument", fail(status.New(codes.InvalidArgument, "bad")), permanent},
		{"Unauthenticated", fail(status.New(codes.Unauthenticated, "who")), permanent},
		{"PermissionDenied", fail(status.New(codes.PermissionDenied, "no")), permanent},
		{"Unimplemented", fail(status.New(codes.Unimplemented, "no")), permanent},
		{"Unavailable", fail(status.New(codes.Unavailable, "down")), transient},
		{"Unavailable with RetryInfo", fail(withDelay(codes.Unavailable, 4*time.Second)), transientAfter(4 * time.Second)},
		{"ResourceExhausted with RetryInfo", fail(withDelay(codes.ResourceExhausted, 12*time.Second)), transientAfter(12 * time.Second)},
		{"Internal", fail(status.New(codes.Internal, "oops")), transient},
		{"DeadlineExceeded", fail(status.New(codes.DeadlineExceeded, "slow")), transient},
		{"Canceled", fail(status.New(codes.Canceled, "gone")), verdict{Outcome: breaker.OutcomeIgnored}},
		{"partial success", func() (*collogpb.ExportLogsServiceResponse, error) {
			return &collogpb.ExportLogsServiceResponse{PartialSuccess: &collogpb.ExportLogsPartialSuccess{
				RejectedLogRecords: 1, ErrorMessage: "bad record",
			}}, nil
		}, permanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(tc.reply)
			err := exp.Export(context.Background(), recs)
			require.Error(t, err)
			assert.Equal(t, tc.want, judge(err), "error: %v", err)
			t.Logf("%v", err)
		})
	}

	srv.set(func() (*collogpb.ExportLogsServiceResponse, error) { return &collogpb.ExportLogsServiceResponse{}, nil })
	assert.NoError(t, exp.Export(context.Background(), recs))
}

func TestClassifyGRPCConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	exp, err := otlploggrpc.New(context.Background(),
		otlploggrpc.WithEndpoint(addr), otlploggrpc.WithInsecure(),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	require.NoError(t, err)
	defer func() { _ = exp.Shutdown(context.Background()) }()

	err = exp.Export(context.Background(), makeRecords(t, 1))
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Equal(t, transient, judge(err))
}

// TestBreakerWithRealOTLPExporter puts the pieces together: 400s never trip
// the breaker, 503s do, and the server's Retry-After sets the open wait.
func TestBreakerWithRealOTLPExporter(t *testing.T) {
	srv, set := newHTTPServer(t)
	clk := clock.NewFake(time.Unix(1700000000, 0))
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 2, OpenTimeout: time.Second, Clock: clk, Rand: func() float64 { return 0 }})
	exp := exporter.MustBreaker(newHTTPExporter(t, srv.URL, otlploghttp.RetryConfig{Enabled: false}), b,
		exporter.WithStandaloneClassifier(Classify))
	recs := makeRecords(t, 1)

	set(httpReply{status: 400})
	for range 5 {
		require.Error(t, exp.Export(context.Background(), recs))
	}
	assert.Equal(t, breaker.Closed, b.State())

	set(httpReply{status: 503, header: map[string]string{"Retry-After": "45"}})
	for range 2 {
		require.Error(t, exp.Export(context.Background(), recs))
	}
	require.Equal(t, breaker.Open, b.State())
	assert.Equal(t, 45*time.Second, b.RetryAt().Sub(clk.Now()))
	assert.ErrorIs(t, exp.Export(context.Background(), recs), breaker.ErrOpen)
}
