package recordcodec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// DefaultTemplates is how many templates a zero Templates keeps.
const DefaultTemplates = 256

// maxRestoredDropped bounds the dropped count DecodeBatch gives a record:
// restoring it costs time in proportion (see restoreDropped), and a count
// read from damaged bytes must not stall a replay.
const maxRestoredDropped = 1 << 16

// Templates caches the template records DecodeBatch decodes into: one per
// resource and instrumentation scope it met (and one more per attribute
// count limit of records with dropped attributes), keyed by their
// encoding. sdklog.Record has no setters for its resource and scope, so a
// template is the one record a private LoggerProvider with that resource
// emits from a Logger with that scope. Building one costs a provider,
// about 7 µs; each later record of that kind costs a copy of it.
//
// A Templates keeps at most its limit, forgetting an arbitrary one to make
// room; records decoded before keep their resource and scope. It is safe
// for concurrent use: the spool's writers and replayers may share one. The
// zero Templates keeps DefaultTemplates; a nil *Templates keeps none, and
// builds a template for each ScopeLogs of a batch.
type Templates struct {
	mu    sync.Mutex
	limit int
	m     map[string]*template
}

// NewTemplates returns a Templates that keeps at most limit templates (at
// least one).
func NewTemplates(limit int) *Templates {
	return &Templates{limit: max(limit, 1)}
}

// Len returns the number of templates t keeps.
func (t *Templates) Len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// template is a record to copy and set the fields of a LogRecord on.
type template struct {
	rec sdklog.Record
	// inexact says why rec's resource or scope differs from the one
	// encoded (see ErrInexact), or is "".
	inexact string
}

// origin is the encoded resource and scope of a ScopeLogs: the fields of
// its Resource and InstrumentationScope messages and their schema URLs.
type origin struct {
	res, resSchema, scope, scopeSchema []byte
}

// get returns the template for records of o with the given attribute
// count limit (-1: none), building it on a miss. key is scratch space for
// the cache key; get returns it for reuse.
func (t *Templates) get(o *origin, countLimit int, key []byte) (*template, []byte, error) {
	key = protowire.AppendBytes(key[:0], o.res)
	key = protowire.AppendBytes(key, o.resSchema)
	key = protowire.AppendBytes(key, o.scope)
	key = protowire.AppendBytes(key, o.scopeSchema)
	key = protowire.AppendVarint(key, uint64(countLimit+1))
	if t != nil {
		t.mu.Lock()
		tm := t.m[string(key)]
		t.mu.Unlock()
		if tm != nil {
			return tm, key, nil
		}
	}
	tm, err := buildTemplate(o, countLimit)
	if err != nil || t == nil {
		return tm, key, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]*template)
	}
	if len(t.m) >= t.limitOrDefault() {
		for k := range t.m {
			delete(t.m, k)
			break
		}
	}
	t.m[string(key)] = tm
	return tm, key, nil
}

func (t *Templates) limitOrDefault() int {
	if t.limit == 0 {
		return DefaultTemplates
	}
	return t.limit
}

// buildTemplate decodes o and has a private LoggerProvider emit one record
// with that resource and scope, which is the template. The provider sets
// no limits but the count limit given (the records were limited by their
// own provider already) and keeps duplicate keys, so that setting a
// record's fields on the template changes nothing of them.
//
// sdklog.WithResource merges the resource with the one the environment
// describes (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), the encoded
// resource winning for the keys it has: a key only the environment has is
// added, and the template says so (see ErrInexact).
func buildTemplate(o *origin, countLimit int) (*template, error) {
	// The resource and scope outlive the batch: they keep strings of a
	// copy of their encoding, not of it.
	owned := append(append(make([]byte, 0, len(o.res)+len(o.scope)), o.res...), o.scope...)
	res, err := decodeResource(owned[:len(o.res)], string(o.resSchema))
	if err != nil {
		return nil, err
	}
	scope, err := decodeScope(owned[len(o.res):], string(o.scopeSchema))
	if err != nil {
		return nil, err
	}
	var c captureOne
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(&c),
		sdklog.WithAttributeCountLimit(countLimit),
		sdklog.WithAttributeValueLengthLimit(-1),
		sdklog.WithAttributeValueDepthLimit(-1),
		sdklog.WithAllowKeyDuplication(),
	)
	lp.Logger(scope.Name,
		log.WithInstrumentationVersion(scope.Version),
		log.WithSchemaURL(scope.SchemaURL),
		log.WithInstrumentationAttributeSet(scope.Attributes),
	).Emit(context.Background(), log.Record{})
	_ = lp.Shutdown(context.Background())
	if !c.ok {
		return nil, errors.New("steadylog/recordcodec: the private LoggerProvider emitted no template record")
	}
	tm := &template{rec: c.rec}
	// Compared by their encoding, which, unlike Equal, holds for a NaN.
	if got := c.rec.Resource(); !sameEncoding(appendResource, got, res) || got.SchemaURL() != res.SchemaURL() {
		tm.inexact = fmt.Sprintf("resource {%s} (schema %q) is rebuilt as {%s} (schema %q)",
			res.Encoded(attribute.DefaultEncoder()), res.SchemaURL(), got.Encoded(attribute.DefaultEncoder()), got.SchemaURL())
	} else if got := c.rec.InstrumentationScope(); !sameEncoding(appendScope, got, scope) || got.SchemaURL != scope.SchemaURL {
		tm.inexact = fmt.Sprintf("instrumentation scope %q is rebuilt as %q", scope.Name, got.Name)
	}
	return tm, nil
}

// sameEncoding reports whether enc encodes a and b alike.
func sameEncoding[T any](enc func([]byte, T) ([]byte, error), a, b T) bool {
	x, err := enc(nil, a)
	if err != nil {
		return false
	}
	y, err := enc(nil, b)
	return err == nil && bytes.Equal(x, y)
}

// captureOne is the private provider's processor: it keeps the record.
type captureOne struct {
	rec sdklog.Record
	ok  bool
}

func (c *captureOne) OnEmit(_ context.Context, r *sdklog.Record) error {
	c.rec, c.ok = r.Clone(), true
	return nil
}

func (*captureOne) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (*captureOne) Shutdown(context.Context) error                         { return nil }
func (*captureOne) ForceFlush(context.Context) error                       { return nil }

// fillers are what restoreDropped adds for the SDK to drop.
var fillers = func() (kvs [256]attribute.KeyValue) {
	for i := range kvs {
		kvs[i] = attribute.Bool("dropped", false)
	}
	return kvs
}()

// restoreDropped gives r, whose attribute count limit is the number of
// attributes it holds, a dropped count of n: sdklog.Record has no setter
// for it, but AddAttributes on a record at its limit counts what it drops.
func restoreDropped(r *sdklog.Record, n int) {
	for n > 0 {
		k := min(n, len(fillers))
		r.AddAttributes(fillers[:k]...)
		n -= k
	}
}
