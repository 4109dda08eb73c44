package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

// exposeExporter accepts every batch silently. If gate is set, Export
// signals entered and then waits for gate to close, ignoring its context.
type exposeExporter struct {
	entered chan struct{}
	gate    chan struct{}
}

func (e *exposeExporter) Export(context.Context, []sdklog.Record) error {
	if e.gate != nil {
		e.entered <- struct{}{}
		<-e.gate
	}
	return nil
}
func (*exposeExporter) ForceFlush(context.Context) error { return nil }
func (*exposeExporter) Shutdown(context.Context) error   { return nil }

func exposeRecord(body string) *sdklog.Record {
	var r sdklog.Record
	r.SetBody(attribute.StringValue(body))
	r.SetSeverity(log.SeverityInfo)
	return &r
}

// topKeys is the documented key set of the Stats encoding, in order.
var topKeys = []string{
	"received", "exported", "dropped", "dropped_total", "queued", "queued_bytes",
	"in_flight", "in_flight_bytes", "packed", "waiting", "backpressure", "backpressure_changes", "destinations",
	"spool",
}

// decodeStats decodes a Stats encoding into generic JSON values, numbers
// kept exact.
func decodeStats(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "%s", b)
	_, err := dec.Token()
	require.ErrorIs(t, err, io.EOF, "one JSON value only: %s", b)
	return m
}

// keysInOrder returns the keys of the JSON object b, in the order written.
func keysInOrder(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func reasonStrings() []string {
	var out []string
	for _, r := range processor.DropReasons() {
		out = append(out, string(r))
	}
	return out
}

// sample has a distinct value in every field, so that a swapped field shows.
var sample = processor.Stats{
	Received:            100,
	Exported:            70,
	Dropped:             map[processor.DropReason]uint64{processor.DropQueueFull: 7, processor.DropRecordTooLarge: 2, processor.DropShed: 1},
	Queued:              15,
	QueuedBytes:         4096,
	InFlight:            5,
	InFlightBytes:       1024,
	Packed:              11,
	Waiting:             3,
	BackPressure:        true,
	BackPressureChanges: 9,
}

func TestStatsJSONKeysAndValues(t *testing.T) {
	b, err := json.Marshal(sample)
	require.NoError(t, err)
	m := decodeStats(t, b)

	assert.ElementsMatch(t, topKeys, slices.Collect(maps.Keys(m)))
	want := map[string]string{
		"received": "100", "exported": "70", "dropped_total": "10",
		"queued": "15", "queued_bytes": "4096", "in_flight": "5", "in_flight_bytes": "1024",
		"packed": "11", "waiting": "3", "backpressure_changes": "9",
	}
	for k, v := range want {
		assert.Equal(t, json.Number(v), m[k], k)
	}
	assert.Equal(t, true, m["backpressure"])

	dropped, ok := m["dropped"].(map[string]any)
	require.True(t, ok, "dropped is an object: %T", m["dropped"])
	assert.ElementsMatch(t, reasonStrings(), slices.Collect(maps.Keys(dropped)), "every reason, and only those")
	for _, r := range processor.DropReasons() {
		assert.Equal(t, json.Number(fmt.Sprint(sample.Dropped[r])), dropped[string(r)], r)
	}
}

func TestStatsJSONZeroHasEveryKey(t *testing.T) {
	b, err := json.Marshal(processor.Stats{})
	require.NoError(t, err)
	m := decodeStats(t, b)
	assert.ElementsMatch(t, topKeys, slices.Collect(maps.Keys(m)))
	assert.Equal(t, false, m["backpressure"])
	dropped := m["dropped"].(map[string]any)
	assert.Len(t, dropped, len(processor.DropReasons()))
	for _, r := range processor.DropReasons() {
		assert.Equal(t, json.Number("0"), dropped[string(r)], r)
	}
}

func TestStatsJSONIsStable(t *testing.T) {
	b, err := json.Marshal(sample)
	require.NoError(t, err)
	assert.Equal(t, topKeys, keysInOrder(t, b), "top-level keys in the documented order")
	raw := decodeRaw(t, b)
	assert.Equal(t, reasonStrings(), keysInOrder(t, raw["dropped"]), "dropped keys in DropReasons order")

	const golden = `{"received":100,"exported":70,` +
		`"dropped":{"queue_full":7,"byte_limit":0,"record_too_large":2,"already_shutdown":0,"shutdown":0,` +
		`"export_failed":0,"block_timeout":0,"heap_pressure":0,"shed":1,"spool_full":0,"spool_age":0},"dropped_total":10,` +
		`"queued":15,"queued_bytes":4096,"in_flight":5,"in_flight_bytes":1024,` +
		`"packed":11,"waiting":3,"backpressure":true,"backpressure_changes":9,"destinations":[],"spool":null}`
	assert.Equal(t, golden, string(b))
	for range 10 { // map iteration order must not leak into the bytes
		again, err := json.Marshal(sample)
		require.NoError(t, err)
		require.Equal(t, golden, string(again))
	}
}

func TestStatsJSONUnknownReasonsFollowSorted(t *testing.T) {
	s := processor.Stats{Dropped: map[processor.DropReason]uint64{"zeta": 1, `a"b`: 2, processor.DropShutdown: 3}}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	raw := decodeRaw(t, b)
	assert.Equal(t, append(reasonStrings(), `a"b`, "zeta"), keysInOrder(t, raw["dropped"]))
	assert.Equal(t, json.Number("6"), decodeStats(t, b)["dropped_total"], "dropped_total sums what dropped shows")
}

func TestStatsJSONRoundTrip(t *testing.T) {
	for name, s := range map[string]processor.Stats{"sample": sample, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(s)
			require.NoError(t, err)
			var got processor.Stats
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, s, got, "zero reasons are left out of Dropped, as in a snapshot")
		})
	}

	// The methods work through pointers and inside other values.
	wrapped := struct {
		S *processor.Stats `json:"s"`
		V processor.Stats  `json:"v"`
	}{&sample, sample}
	b, err := json.Marshal(wrapped)
	require.NoError(t, err)
	var back struct {
		S *processor.Stats `json:"s"`
		V processor.Stats  `json:"v"`
	}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, sample, *back.S)
	assert.Equal(t, sample, back.V)

	var s processor.Stats
	assert.Error(t, json.Unmarshal([]byte(`{"received":-1}`), &s))
	assert.Error(t, json.Unmarshal([]byte(`[]`), &s))
}

// A live processor with drops of two reasons: the encoding agrees with
// Stats, and the accounting identity holds in the JSON.
func TestStatsJSONFromProcessor(t *testing.T) {
	ctx := context.Background()
	proc, err := processor.New(&exposeExporter{}, processor.WithMaxQueueBytes(2048))
	require.NoError(t, err)
	require.NoError(t, proc.OnEmit(ctx, exposeRecord("small")))
	require.NoError(t, proc.OnEmit(ctx, exposeRecord(strings.Repeat("x", 4096))))
	require.NoError(t, proc.Shutdown(ctx))
	_ = proc.OnEmit(ctx, exposeRecord("late"))

	s := proc.Stats()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	m := decodeStats(t, b)
	dropped := m["dropped"].(map[string]any)
	assert.Len(t, dropped, len(processor.DropReasons()))
	assert.Equal(t, json.Number("1"), dropped[string(processor.DropRecordTooLarge)])
	assert.Equal(t, json.Number("1"), dropped[string(processor.DropAlreadyShutdown)])
	assert.Equal(t, json.Number("0"), dropped[string(processor.DropQueueFull)])
	num := func(k string) int64 {
		n, err := m[k].(json.Number).Int64()
		require.NoError(t, err, k)
		return n
	}
	assert.Equal(t, int64(3), num("received"))
	assert.Equal(t, num("received"), num("exported")+num("dropped_total")+num("queued")+num("in_flight"))

	var back processor.Stats
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, s, back)
}

func TestVarIsNotPublished(t *testing.T) {
	before := publishedNames()
	proc, err := processor.New(&exposeExporter{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proc.Shutdown(context.Background()) })
	_ = proc.Var()
	_ = proc.Var() // two calls must not clash either
	assert.Equal(t, before, publishedNames(), "Var must not publish anything")
}

func TestVarStringTracksEmits(t *testing.T) {
	ctx := context.Background()
	proc, err := processor.New(&exposeExporter{}, processor.WithExportInterval(time.Hour))
	require.NoError(t, err)
	v := proc.Var()

	read := func() processor.Stats {
		t.Helper()
		str := v.String()
		require.True(t, json.Valid([]byte(str)), "%s", str)
		m := decodeStats(t, []byte(str))
		assert.ElementsMatch(t, topKeys, slices.Collect(maps.Keys(m)))
		var s processor.Stats
		require.NoError(t, json.Unmarshal([]byte(str), &s))
		assert.Equal(t, proc.Stats(), s, "the Var reads a fresh snapshot")
		return s
	}

	assert.Equal(t, processor.Stats{Destinations: []processor.DestinationStats{{Name: "0"}}}, read())
	first := v.String()
	for i := range 3 {
		require.NoError(t, proc.OnEmit(ctx, exposeRecord(fmt.Sprint("r", i))))
	}
	s := read()
	assert.Equal(t, uint64(3), s.Received)
	assert.Equal(t, 3, s.Queued)
	assert.Positive(t, s.QueuedBytes)
	assert.NotEqual(t, first, v.String())

	require.NoError(t, proc.Shutdown(ctx))
	s = read() // still works after Shutdown, with the final counts
	assert.Equal(t, uint64(3), s.Exported)
	assert.Zero(t, s.Queued)
}

func TestStatsHandlerGET(t *testing.T) {
	ctx := context.Background()
	proc, err := processor.New(&exposeExporter{}, processor.WithExportInterval(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { _ = proc.Shutdown(ctx) })
	require.NoError(t, proc.OnEmit(ctx, exposeRecord("one")))

	srv := httptest.NewServer(proc.StatsHandler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/any/path?q=1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, fmt.Sprint(len(body)), resp.Header.Get("Content-Length"))
	assert.True(t, strings.HasSuffix(string(body), "}\n"), "%q", body)
	m := decodeStats(t, body)
	assert.ElementsMatch(t, topKeys, slices.Collect(maps.Keys(m)))
	assert.Equal(t, json.Number("1"), m["received"])
	assert.Equal(t, json.Number("1"), m["queued"])
	want, err := json.Marshal(proc.Stats())
	require.NoError(t, err)
	assert.Equal(t, string(want)+"\n", string(body))
}

func TestStatsHandlerHEAD(t *testing.T) {
	proc, err := processor.New(&exposeExporter{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proc.Shutdown(context.Background()) })

	rec := httptest.NewRecorder()
	proc.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/debug/steadylog", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Empty(t, rec.Body.String(), "HEAD sends no body")
	get := httptest.NewRecorder()
	proc.StatsHandler().ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/debug/steadylog", nil))
	assert.Equal(t, get.Header().Get("Content-Length"), rec.Header().Get("Content-Length"),
		"HEAD announces the length GET sends")
}

func TestStatsHandlerRejectsOtherMethods(t *testing.T) {
	proc, err := processor.New(&exposeExporter{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proc.Shutdown(context.Background()) })
	h := proc.StatsHandler()
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/debug/steadylog", strings.NewReader("{}")))
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"), method)
		assert.NotContains(t, rec.Body.String(), `"received"`, method)
	}
	assert.Equal(t, uint64(0), proc.Stats().Received)
}

// The endpoint answers while the exporter is stuck, and shows the stuck
// batch in flight.
func TestStatsHandlerDoesNotWaitForExporter(t *testing.T) {
	exp := &exposeExporter{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	proc, err := processor.New(exp, processor.WithExportMaxBatchSize(1), processor.WithExportInterval(time.Hour))
	require.NoError(t, err)
	require.NoError(t, proc.OnEmit(context.Background(), exposeRecord("stuck")))
	<-exp.entered // the export of the full batch is under way, and blocked

	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		proc.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		done <- rec
	}()
	select {
	case rec := <-done:
		assert.Equal(t, http.StatusOK, rec.Code)
		m := decodeStats(t, rec.Body.Bytes())
		assert.Equal(t, json.Number("1"), m["in_flight"])
		assert.NotEqual(t, json.Number("0"), m["in_flight_bytes"])
		assert.Equal(t, 1, proc.Stats().InFlight)
		assert.Contains(t, proc.Var().String(), `"in_flight":1,`)
	case <-time.After(10 * time.Second):
		t.Fatal("StatsHandler waited for the exporter")
	}

	close(exp.gate)
	require.NoError(t, proc.Shutdown(context.Background()))
	assert.Equal(t, uint64(1), proc.Stats().Exported)
}

func ExampleProcessor_StatsHandler() {
	ctx := context.Background()
	proc, _ := processor.New(&exposeExporter{}, processor.WithMaxQueueBytes(2048))
	_ = proc.OnEmit(ctx, exposeRecord("hello"))
	_ = proc.OnEmit(ctx, exposeRecord(strings.Repeat("x", 4096))) // larger than the budget
	_ = proc.Shutdown(ctx)

	// In a service: mux.Handle("/debug/steadylog", proc.StatsHandler())
	rec := httptest.NewRecorder()
	proc.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/steadylog", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, rec.Body.Bytes(), "", "  ")
	_, _ = pretty.WriteTo(os.Stdout)
	// Output:
	// 200 application/json
	// {
	//   "received": 2,
	//   "exported": 1,
	//   "dropped": {
	//     "queue_full": 0,
	//     "byte_limit": 0,
	//     "record_too_large": 1,
	//     "already_shutdown": 0,
	//     "shutdown": 0,
	//     "export_failed": 0,
	//     "block_timeout": 0,
	//     "heap_pressure": 0,
	//     "shed": 0,
	//     "spool_full": 0,
	//     "spool_age": 0
	//   },
	//   "dropped_total": 1,
	//   "queued": 0,
	//   "queued_bytes": 0,
	//   "in_flight": 0,
	//   "in_flight_bytes": 0,
	//   "packed": 0,
	//   "waiting": 0,
	//   "backpressure": false,
	//   "backpressure_changes": 0,
	//   "destinations": [
	//     {
	//       "name": "0",
	//       "received": 1,
	//       "exported": 1,
	//       "dropped": {
	//         "queue_full": 0,
	//         "byte_limit": 0,
	//         "record_too_large": 0,
	//         "already_shutdown": 0,
	//         "shutdown": 0,
	//         "export_failed": 0,
	//         "block_timeout": 0,
	//         "heap_pressure": 0,
	//         "shed": 0,
	//         "spool_full": 0,
	//         "spool_age": 0
	//       },
	//       "dropped_total": 0,
	//       "queued": 0,
	//       "in_flight": 0,
	//       "retrying": false,
	//       "outage_spent": false,
	//       "recovered": 0,
	//       "left_for_next_start": 0
	//     }
	//   ],
	//   "spool": null
	// }
}

func ExampleProcessor_Var() {
	ctx := context.Background()
	proc, _ := processor.New(&exposeExporter{})

	// In a service: expvar.Publish("steadylog", proc.Var()), once, at
	// start-up; it then shows in /debug/vars. The package never publishes
	// by itself.
	v := proc.Var()
	_ = proc.OnEmit(ctx, exposeRecord("hello"))
	_ = proc.Shutdown(ctx)
	_ = proc.OnEmit(ctx, exposeRecord("too late"))

	fmt.Println(v.String())

	// Another program can read the JSON back.
	var s processor.Stats
	_ = json.Unmarshal([]byte(v.String()), &s)
	fmt.Println(s)
	// Output:
	// {"received":2,"exported":1,"dropped":{"queue_full":0,"byte_limit":0,"record_too_large":0,"already_shutdown":1,"shutdown":0,"export_failed":0,"block_timeout":0,"heap_pressure":0,"shed":0,"spool_full":0,"spool_age":0},"dropped_total":1,"queued":0,"queued_bytes":0,"in_flight":0,"in_flight_bytes":0,"packed":0,"waiting":0,"backpressure":false,"backpressure_changes":0,"destinations":[{"name":"0","received":1,"exported":1,"dropped":{"queue_full":0,"byte_limit":0,"record_too_large":0,"already_shutdown":0,"shutdown":0,"export_failed":0,"block_timeout":0,"heap_pressure":0,"shed":0,"spool_full":0,"spool_age":0},"dropped_total":0,"queued":0,"in_flight":0,"retrying":false,"outage_spent":false,"recovered":0,"left_for_next_start":0}],"spool":null}
	// received=2 exported=1 queued=0 queued_bytes=0 in_flight=0 dropped=1 already_shutdown=1
}

// decodeRaw splits a JSON object into its members, undecoded.
func decodeRaw(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func publishedNames() []string {
	var names []string
	expvar.Do(func(kv expvar.KeyValue) { names = append(names, kv.Key) })
	return names
}
