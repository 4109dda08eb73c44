package recordcodec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/steadylog/steadylog/internal/recordcodec"
	"github.com/steadylog/steadylog/internal/recordtest"
)

// origin describes where records come from: a LoggerProvider's resource
// and limits, and a Logger's scope.
type origin struct {
	res        *resource.Resource
	countLimit int // 0: the SDK's default
	scope      string
	version    string
	schemaURL  string
	attrs      []attribute.KeyValue
}

// emit returns a record emitted through a real LoggerProvider made as o
// says: it carries o's resource, scope and limits.
func (o origin) emit(t testing.TB) sdklog.Record {
	t.Helper()
	c := &recordtest.Capture{}
	opts := []sdklog.LoggerProviderOption{sdklog.WithProcessor(c), sdklog.WithResource(o.res)}
	if o.countLimit != 0 {
		opts = append(opts, sdklog.WithAttributeCountLimit(o.countLimit))
	}
	lp := sdklog.NewLoggerProvider(opts...)
	lp.Logger(o.scope, log.WithInstrumentationVersion(o.version), log.WithSchemaURL(o.schemaURL),
		log.WithInstrumentationAttributes(o.attrs...)).Emit(context.Background(), log.Record{})
	_ = lp.Shutdown(context.Background())
	recs := c.Records()
	if len(recs) != 1 {
		t.Fatalf("captured %d records, want 1", len(recs))
	}
	return recs[0]
}

// noEnvironment clears the variables the SDK builds a resource from, so
// that the test's resources are its own.
func noEnvironment(t testing.TB) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	t.Setenv("OTEL_SERVICE_NAME", "")
}

// templates returns records of several resources and scopes: two
// providers sharing one resource, one with an Equal resource at another
// pointer, one whose resource differs from it by its schema URL only, one
// with an attribute count limit of 3 (its records drop attributes), and
// scopes with versions, schema URLs and nested attributes.
func templates(t testing.TB) []sdklog.Record {
	svc := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"), attribute.Int("service.instance", 3),
		attribute.StringSlice("process.command_args", []string{"checkout", "-v"}))
	same := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", svc.Attributes()...)
	otherSchema := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.27.0", svc.Attributes()...)
	nested := resource.NewSchemaless(attribute.KeyValue{Key: "deep", Value: attribute.MapValue(
		attribute.KeyValue{Key: "list", Value: attribute.SliceValue(attribute.Int64Value(1), attribute.MapValue(attribute.Bool("b", true)))},
	)})
	scopeAttrs := []attribute.KeyValue{attribute.String("lib", "x"), {Key: "m", Value: attribute.MapValue(attribute.Float64("f", 1.5))}}
	var out []sdklog.Record
	for _, o := range []origin{
		{res: svc, scope: "a"},
		{res: svc, scope: "a", version: "v1.2.3", schemaURL: "https://opentelemetry.io/schemas/1.26.0", attrs: scopeAttrs},
		{res: same, scope: "b", version: "v2"},
		{res: otherSchema, scope: "a"},
		{res: nested, scope: "c", attrs: scopeAttrs[:1]},
		{res: resource.Empty(), scope: ""},
		{res: svc, countLimit: 3, scope: "limited"},
	} {
		out = append(out, o.emit(t))
	}
	// Two providers with one resource: the same pointer in different
	// providers' records.
	shared := origin{res: svc, scope: "a"}.emit(t)
	return append(out, shared)
}

// randBatch returns n random records taken from tmpls in runs, so that
// resources and scopes interleave and come back.
func randBatch(rng *rand.Rand, tmpls []sdklog.Record, n int) []sdklog.Record {
	recs := make([]sdklog.Record, 0, n)
	for len(recs) < n {
		tmpl := tmpls[rng.IntN(len(tmpls))]
		for range 1 + rng.IntN(4) {
			recs = append(recs, randRecord(rng, tmpl))
		}
	}
	return recs[:n]
}

// originDiff describes how got's resource, scope and dropped count differ
// from want's, or returns "".
func originDiff(want, got *sdklog.Record) string {
	wr, gr := want.Resource(), got.Resource()
	ws, gs := want.InstrumentationScope(), got.InstrumentationScope()
	switch {
	case !wr.Equal(gr) || wr.SchemaURL() != gr.SchemaURL():
		return fmt.Sprintf("resource %v %q, want %v %q", gr, gr.SchemaURL(), wr, wr.SchemaURL())
	case ws.Name != gs.Name, ws.Version != gs.Version, ws.SchemaURL != gs.SchemaURL, !ws.Attributes.Equals(&gs.Attributes):
		return fmt.Sprintf("scope %+v, want %+v", gs, ws)
	case want.DroppedAttributes() != got.DroppedAttributes():
		return fmt.Sprintf("%d dropped attributes, want %d", got.DroppedAttributes(), want.DroppedAttributes())
	}
	return ""
}

func batchDiff(want, got []sdklog.Record) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if d := diffFields(&want[i], &got[i]); d != "" {
			return fmt.Sprintf("record %d: %s", i, d)
		}
		if d := originDiff(&want[i], &got[i]); d != "" {
			return fmt.Sprintf("record %d: %s", i, d)
		}
	}
	return ""
}

func TestBatchRoundTrip(t *testing.T) {
	noEnvironment(t)
	tmpls := templates(t)
	rng := rand.New(rand.NewPCG(5, 6))
	cache := recordcodec.NewTemplates(4) // fewer than the batches' origins: templates are forgotten and built again
	var buf []byte
	dropped := 0
	for i := range 300 {
		want := randBatch(rng, tmpls, 1+rng.IntN(40))
		var err error
		if buf, err = recordcodec.AppendBatch(buf[:0], want); err != nil {
			t.Fatalf("batch %d: AppendBatch: %v", i, err)
		}
		prefix := []sdklog.Record{randRecord(rng, tmpls[0])}
		got, err := recordcodec.DecodeBatch(bytes.Clone(buf), cache, prefix)
		if err != nil {
			t.Fatalf("batch %d: DecodeBatch: %v", i, err)
		}
		if d := diff(&prefix[0], &got[0]); d != "" {
			t.Fatalf("batch %d: the record out held: %s", i, d)
		}
		if d := batchDiff(want, got[1:]); d != "" {
			t.Fatalf("batch %d: %s", i, d)
		}
		if cache.Len() > 4 {
			t.Fatalf("the cache holds %d templates, more than its limit 4", cache.Len())
		}
		for _, r := range want {
			dropped += r.DroppedAttributes()
		}
	}
	if dropped == 0 {
		t.Fatal("no record dropped attributes: the dropped count went untested")
	}
}

// TestAppendEncodedBatchMatchesAppendBatch: records encoded one by one
// (Append) and put together by AppendEncodedBatch, with an origin that is
// another record of the same resource and scope, give the bytes
// AppendBatch gives for the records.
func TestAppendEncodedBatchMatchesAppendBatch(t *testing.T) {
	noEnvironment(t)
	tmpls := templates(t)
	rng := rand.New(rand.NewPCG(7, 8))
	var want, got []byte
	for i := range 200 {
		recs := randBatch(rng, tmpls, 1+rng.IntN(40))
		var encs [][]byte
		origins := make([]*sdklog.Record, len(recs))
		for k := range recs {
			enc, err := recordcodec.Append(nil, &recs[k])
			if err != nil {
				t.Fatalf("batch %d: Append(record %d): %v", i, k, err)
			}
			encs = append(encs, enc)
			// An origin with the record's resource and scope but other
			// fields: only its resource and scope may be read.
			o := recs[k]
			o.SetBody(attribute.StringValue("not this record"))
			o.SetAttributes(attribute.Int("not", k))
			origins[k] = &o
		}
		var err error
		if want, err = recordcodec.AppendBatch(want[:0], recs); err != nil {
			t.Fatalf("batch %d: AppendBatch: %v", i, err)
		}
		prefix := []byte("prefix")
		if got, err = recordcodec.AppendEncodedBatch(append(got[:0], prefix...), len(recs),
			func(k int) *sdklog.Record { return origins[k] },
			func(k int) []byte { return encs[k] }); err != nil {
			t.Fatalf("batch %d: AppendEncodedBatch: %v", i, err)
		}
		if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("batch %d: AppendEncodedBatch gave %d bytes after the prefix, AppendBatch %d; they differ", i, len(got)-len(prefix), len(want))
		}
	}
}

// TestBatchKeepsRuns: consecutive records of one resource and scope share
// one ResourceLogs and ScopeLogs; a resource or scope that comes back
// starts new ones.
func TestBatchKeepsRuns(t *testing.T) {
	noEnvironment(t)
	tmpls := templates(t)
	a, a2 := tmpls[0], tmpls[7] // a2: another provider, a's resource pointer and scope
	scoped := tmpls[1]          // a's resource, another scope
	b := tmpls[3]               // a's resource attributes, another schema URL
	c := tmpls[2]               // a resource Equal to a's at another pointer, another scope
	recs := []sdklog.Record{a, a2, scoped, a, c, b, b, a}
	enc, err := recordcodec.AppendBatch(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	req := unmarshalRequest(t, enc)
	var shape [][]int
	for _, rl := range req.ResourceLogs {
		var scopes []int
		for _, sl := range rl.ScopeLogs {
			scopes = append(scopes, len(sl.LogRecords))
		}
		shape = append(shape, scopes)
	}
	if got, want := fmt.Sprint(shape), "[[2 1 1 1] [2] [1]]"; got != want {
		t.Fatalf("records per ScopeLogs per ResourceLogs = %s, want %s", got, want)
	}
}

func TestBatchDroppedAttributes(t *testing.T) {
	noEnvironment(t)
	res := resource.NewSchemaless(attribute.String("service.name", "drops"))
	var want []sdklog.Record
	for _, limit := range []int{3, -1, 1} {
		r := origin{res: res, scope: "s", countLimit: limit}.emit(t)
		attrs := make([]attribute.KeyValue, 10)
		for i := range attrs {
			attrs[i] = attribute.Int(fmt.Sprintf("a%d", i), i)
		}
		r.SetAttributes(attrs...)
		want = append(want, r)
	}
	// A zero Record's attribute count limit is 0: it drops all it is given.
	var zero sdklog.Record
	zero.SetAttributes(attribute.Int("x", 1), attribute.Int("y", 2))
	want = append(want, zero)
	if want[0].DroppedAttributes() != 7 || want[1].DroppedAttributes() != 0 || want[2].DroppedAttributes() != 9 || want[3].DroppedAttributes() != 2 {
		t.Fatalf("the SDK dropped %d, %d, %d, %d attributes, want 7, 0, 9, 2", want[0].DroppedAttributes(),
			want[1].DroppedAttributes(), want[2].DroppedAttributes(), want[3].DroppedAttributes())
	}
	enc, err := recordcodec.AppendBatch(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := recordcodec.DecodeBatch(enc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := batchDiff(want, got); d != "" {
		t.Fatal(d)
	}
}

// TestTemplatesEnvironment: the SDK merges the resource the environment
// describes into every resource a LoggerProvider is given. A replay in an
// environment that gives other values to the resource's keys rebuilds it
// exactly; one that adds a key gets the records and ErrInexact.
func TestTemplatesEnvironment(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,host.name=a")
	r := origin{res: resource.NewSchemaless(attribute.String("service.name", "svc")), scope: "s"}.emit(t)
	r.SetBody(attribute.StringValue("hello"))
	if r.Resource().Len() != 3 {
		t.Fatalf("the original resource is %v: want the environment's two attributes merged in", r.Resource())
	}
	want := []sdklog.Record{r, r}
	enc, err := recordcodec.AppendBatch(nil, want)
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,host.name=b")
	t.Setenv("OTEL_SERVICE_NAME", "renamed")
	got, err := recordcodec.DecodeBatch(enc, recordcodec.NewTemplates(8), nil)
	if err != nil {
		t.Fatalf("other values for the resource's keys: %v", err)
	}
	if d := batchDiff(want, got); d != "" {
		t.Fatalf("other values for the resource's keys: %s", d)
	}

	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=p")
	got, err = recordcodec.DecodeBatch(enc, recordcodec.NewTemplates(8), nil)
	if !errors.Is(err, recordcodec.ErrInexact) {
		t.Fatalf("a key the resource lacks: err = %v, want ErrInexact", err)
	}
	if len(got) != 2 {
		t.Fatalf("a key the resource lacks: %d records, want 2", len(got))
	}
	for i := range got {
		if v, ok := got[i].Resource().Set().Value("k8s.pod.name"); !ok || v.AsString() != "p" {
			t.Errorf("record %d: resource %v lacks the environment's attribute", i, got[i].Resource())
		}
		if d := diffFields(&want[i], &got[i]); d != "" {
			t.Errorf("record %d: %s", i, d)
		}
	}
}

// TestTemplatesConcurrent decodes batches in several goroutines sharing
// one Templates smaller than the origins they use (run with -race).
func TestTemplatesConcurrent(t *testing.T) {
	noEnvironment(t)
	tmpls := templates(t)
	cache := recordcodec.NewTemplates(3)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 30 {
				want := randBatch(rng, tmpls, 20)
				enc, err := recordcodec.AppendBatch(nil, want)
				if err != nil {
					errs <- err.Error()
					return
				}
				got, err := recordcodec.DecodeBatch(enc, cache, nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				if d := batchDiff(want, got); d != "" {
					errs <- d
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestBatchNaN: a scope or resource with a NaN among its attributes is not
// Equal to itself. Each record still goes once into the request, in order,
// and is rebuilt exactly (templates are checked by their encoding).
func TestBatchNaN(t *testing.T) {
	noEnvironment(t)
	nan := attribute.Float64("nan", math.NaN())
	r := origin{res: resource.NewSchemaless(nan), scope: "s", attrs: []attribute.KeyValue{nan}}.emit(t)
	other := origin{res: resource.NewSchemaless(nan), scope: "s", attrs: []attribute.KeyValue{nan}}.emit(t)
	want := []sdklog.Record{r, r, other, r}
	for i := range want {
		want[i].SetBody(attribute.IntValue(i))
	}
	enc, err := recordcodec.AppendBatch(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := recordcodec.DecodeBatch(enc, nil, nil)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if d := diffFields(&want[i], &got[i]); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
		v, _ := got[i].Resource().Set().Value("nan")
		scope := got[i].InstrumentationScope()
		s, _ := scope.Attributes.Value("nan")
		if !math.IsNaN(v.AsFloat64()) || !math.IsNaN(s.AsFloat64()) {
			t.Fatalf("record %d: resource %v, scope %v: want NaN", i, got[i].Resource(), got[i].InstrumentationScope().Attributes)
		}
	}
}

func TestAppendBatchUnsupported(t *testing.T) {
	noEnvironment(t)
	tmpls := templates(t)
	recs := []sdklog.Record{tmpls[0], tmpls[1], tmpls[2]}
	recs[2].SetTimestamp(time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC))
	dst := []byte("keep")
	got, err := recordcodec.AppendBatch(dst, recs)
	if !errors.Is(err, recordcodec.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if string(got) != "keep" {
		t.Fatalf("dst changed to %q", got)
	}
}

func TestDecodeBatchMalformed(t *testing.T) {
	noEnvironment(t)
	rng := rand.New(rand.NewPCG(7, 8))
	tmpls := templates(t)
	good, err := recordcodec.AppendBatch(nil, randBatch(rng, tmpls, 6))
	if err != nil {
		t.Fatal(err)
	}
	cache := recordcodec.NewTemplates(16)
	prefix := make([]sdklog.Record, 1, 2)
	for i := range good {
		// Every truncation is either a shorter valid request or malformed:
		// never a panic; a malformed one leaves out as it was.
		got, err := recordcodec.DecodeBatch(good[:i], cache, prefix)
		if err != nil && len(got) != 1 {
			t.Fatalf("truncated to %d bytes: %v with %d records, want out unchanged", i, err, len(got))
		}
	}
	for _, b := range [][]byte{
		{0xff},                               // a tag cut short
		{0x0a, 0x05, 0x01},                   // a ResourceLogs longer than the request
		{0x0a, 0x02, 0x12, 0x05},             // a ScopeLogs longer than its ResourceLogs
		{0x0a, 0x04, 0x12, 0x02, 0x12, 0x01}, // a LogRecord longer than its ScopeLogs
		{0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x4a, 0x01},             // a trace id of one byte
		{0x0a, 0x08, 0x0a, 0x02, 0x0a, 0x05, 0x12, 0x02, 0x12, 0x00}, // a resource attribute cut short
		{0x0a, 0x08, 0x12, 0x06, 0x0a, 0x02, 0x1a, 0x05, 0x12, 0x00}, // a scope attribute cut short
	} {
		got, err := recordcodec.DecodeBatch(b, cache, prefix)
		if !errors.Is(err, recordcodec.ErrMalformed) || len(got) != 1 {
			t.Errorf("DecodeBatch(%x) = %d records, %v; want out unchanged, ErrMalformed", b, len(got), err)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	noEnvironment(f)
	tmpls := templates(f)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10 {
		b, err := recordcodec.AppendBatch(nil, randBatch(rng, tmpls, 1+rng.IntN(5)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	cache := recordcodec.NewTemplates(64)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := recordcodec.DecodeBatch(b, cache, nil)
		if err != nil && !errors.Is(err, recordcodec.ErrInexact) {
			return
		}
		// What decodes encodes again, and decodes to the same records.
		again, err := recordcodec.AppendBatch(nil, got)
		if err != nil {
			t.Fatalf("re-encoding decoded records: %v", err)
		}
		back, err := recordcodec.DecodeBatch(again, cache, nil)
		if err != nil && !errors.Is(err, recordcodec.ErrInexact) {
			t.Fatalf("decoding re-encoded records: %v", err)
		}
		if d := batchDiff(got, back); d != "" {
			t.Fatal(d)
		}
	})
}
