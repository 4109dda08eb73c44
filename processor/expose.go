package processor

import (
	"bytes"
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// This file exposes Stats the way Go services expose their internals: as
// JSON, through expvar and through an http.Handler.

// MarshalJSON encodes the snapshot as one JSON object. The encoding is part
// of the package's API and stays stable:
//
//	{
//	  "received": 3, "exported": 1,
//	  "dropped": {"queue_full": 1, "byte_limit": 0, "record_too_large": 1, …},
//	  "dropped_total": 2,
//	  "queued": 0, "queued_bytes": 0, "in_flight": 0, "in_flight_bytes": 0,
//	  "packed": 0, "waiting": 0, "backpressure": false, "backpressure_changes": 0,
//	  "destinations": [
//	    {"name": "0", "received": 2, "exported": 1, "dropped": {…}, "dropped_total": 1,
//	     "queued": 0, "in_flight": 0, "retrying": false, "outage_spent": false,
//	     "recovered": 0, "left_for_next_start": 0}
//	  ],
//	  "spool": null
//	}
//
// "spool" is null without a spool (Stats.Spool); with one it is
//
//	{"dir": "/var/lib/app/spool", "bytes": 4096, "records": 12,
//	 "oldest": "2026-01-02T15:04:05.999999999Z", "recovered": 0, "resent": 0,
//	 "damaged": 0, "left_for_next_start": 0, "errors": 0, "degraded": false,
//	 "last_error": ""}
//
// with "oldest" null when the spool holds nothing.
//
// The keys are exactly those above, always all present, in that order;
// "destinations" holds one object per destination (Stats.Destinations),
// each with the keys shown.
// "dropped" holds every reason of DropReasons, in DropReasons order, with 0
// for a reason with no drops, so that a dashboard or a jq query never meets
// a missing key; its keys are the `error.type` values of the
// otel.sdk.processor.log.processed metric. A reason that is not one of
// DropReasons (only possible in a Stats built by hand) follows them, in
// sorted order. "dropped_total" is TotalDropped, so the accounting identity
// reads received == exported + dropped_total + queued + in_flight.
//
// The counters are JSON integers; a consumer parsing numbers as float64
// (JavaScript, jq) reads them exactly up to 2^53.
func (s Stats) MarshalJSON() ([]byte, error) {
	j := statsJSON{
		Received:            s.Received,
		Exported:            s.Exported,
		Dropped:             droppedJSON(s.Dropped),
		DroppedTotal:        s.TotalDropped(),
		Queued:              s.Queued,
		QueuedBytes:         s.QueuedBytes,
		InFlight:            s.InFlight,
		InFlightBytes:       s.InFlightBytes,
		Packed:              s.Packed,
		Waiting:             s.Waiting,
		BackPressure:        s.BackPressure,
		BackPressureChanges: s.BackPressureChanges,
		Destinations:        make([]destinationJSON, len(s.Destinations)), // [] rather than null
		Spool:               spoolToJSON(s.Spool),
	}
	for i, d := range s.Destinations {
		j.Destinations[i] = destinationJSON{
			Name: d.Name, Received: d.Received, Exported: d.Exported,
			Dropped: droppedJSON(d.Dropped), DroppedTotal: d.TotalDropped(),
			Queued: d.Queued, InFlight: d.InFlight, Retrying: d.Retrying, OutageSpent: d.OutageSpent,
			Recovered: d.Recovered, LeftForNext: d.LeftForNextStart,
		}
	}
	return json.Marshal(j)
}

// statsJSON is the JSON shape of Stats, both ways: its fields are the keys
// MarshalJSON documents, in order.
type statsJSON struct {
	Received            uint64            `json:"received"`
	Exported            uint64            `json:"exported"`
	Dropped             droppedJSON       `json:"dropped"`
	DroppedTotal        uint64            `json:"dropped_total"` // derived: ignored when decoding
	Queued              int               `json:"queued"`
	QueuedBytes         int64             `json:"queued_bytes"`
	InFlight            int               `json:"in_flight"`
	InFlightBytes       int64             `json:"in_flight_bytes"`
	Packed              uint64            `json:"packed"`
	Waiting             int               `json:"waiting"`
	BackPressure        bool              `json:"backpressure"`
	BackPressureChanges uint64            `json:"backpressure_changes"`
	Destinations        []destinationJSON `json:"destinations"`
	Spool               *spoolJSON        `json:"spool"`
}

// spoolJSON is the JSON shape of SpoolStats; "oldest" is null when the
// spool holds nothing.
type spoolJSON struct {
	Dir              string     `json:"dir"`
	Bytes            int64      `json:"bytes"`
	Records          uint64     `json:"records"`
	Oldest           *time.Time `json:"oldest"`
	Recovered        uint64     `json:"recovered"`
	Resent           uint64     `json:"resent"`
	Damaged          uint64     `json:"damaged"`
	LeftForNextStart uint64     `json:"left_for_next_start"`
	Errors           uint64     `json:"errors"`
	Degraded         bool       `json:"degraded"`
	LastError        string     `json:"last_error"`
}

func spoolToJSON(s *SpoolStats) *spoolJSON {
	if s == nil {
		return nil
	}
	j := &spoolJSON{
		Dir: s.Dir, Bytes: s.Bytes, Records: s.Records, Recovered: s.Recovered, Resent: s.Resent,
		Damaged: s.Damaged, LeftForNextStart: s.LeftForNextStart, Errors: s.Errors, Degraded: s.Degraded,
		LastError: s.LastError,
	}
	if !s.Oldest.IsZero() {
		oldest := s.Oldest
		j.Oldest = &oldest
	}
	return j
}

func (j *spoolJSON) stats() *SpoolStats {
	if j == nil {
		return nil
	}
	s := &SpoolStats{
		Dir: j.Dir, Bytes: j.Bytes, Records: j.Records, Recovered: j.Recovered, Resent: j.Resent,
		Damaged: j.Damaged, LeftForNextStart: j.LeftForNextStart, Errors: j.Errors, Degraded: j.Degraded,
		LastError: j.LastError,
	}
	if j.Oldest != nil {
		s.Oldest = *j.Oldest
	}
	return s
}

// destinationJSON is the JSON shape of DestinationStats.
type destinationJSON struct {
	Name         string      `json:"name"`
	Received     uint64      `json:"received"`
	Exported     uint64      `json:"exported"`
	Dropped      droppedJSON `json:"dropped"`
	DroppedTotal uint64      `json:"dropped_total"` // derived: ignored when decoding
	Queued       int         `json:"queued"`
	InFlight     int         `json:"in_flight"`
	Retrying     bool        `json:"retrying"`
	OutageSpent  bool        `json:"outage_spent"`
	Recovered    uint64      `json:"recovered"`
	LeftForNext  uint64      `json:"left_for_next_start"`
}

// droppedJSON is a "dropped" object. It encodes every reason of
// DropReasons, in order, with 0 for a reason with no drops, then any other
// reason, sorted: encoding/json would sort them all and leave out the
// missing ones.
type droppedJSON map[DropReason]uint64

func (m droppedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeDropped(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeDropped writes a "dropped" object: every reason of DropReasons, in
// order, then any other reason of m, sorted.
func writeDropped(b *bytes.Buffer, m map[DropReason]uint64) error {
	b.WriteByte('{')
	for i, r := range droppedKeys(m) {
		if i > 0 {
			b.WriteByte(',')
		}
		// A DropReason is an arbitrary string in a hand-built Stats: let
		// encoding/json quote and escape it.
		key, err := json.Marshal(string(r))
		if err != nil {
			return err
		}
		b.Write(key)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(m[r], 10))
	}
	b.WriteByte('}')
	return nil
}

// droppedKeys returns the keys of the "dropped" object: every DropReason,
// then any other reason in m, sorted.
func droppedKeys(m map[DropReason]uint64) []DropReason {
	keys := DropReasons()
	var extra []DropReason
	for r := range m {
		if !slices.Contains(keys, r) {
			extra = append(extra, r)
		}
	}
	slices.Sort(extra)
	return append(keys, extra...)
}

// nonZero returns the entries of m with drops, or nil.
func nonZero(m map[DropReason]uint64) map[DropReason]uint64 {
	var out map[DropReason]uint64
	for r, n := range m {
		if n > 0 {
			if out == nil {
				out = make(map[DropReason]uint64, len(m))
			}
			out[r] = n
		}
	}
	return out
}

// UnmarshalJSON decodes the encoding MarshalJSON produces, so that a
// program can read another's stats endpoint into a Stats. As in a snapshot
// from Processor.Stats, reasons with 0 drops are left out of Dropped (nil
// when there are none). "dropped_total" is ignored: it is derived, and
// TotalDropped recomputes it. Missing keys leave their fields zero;
// unknown keys are ignored.
func (s *Stats) UnmarshalJSON(data []byte) error {
	var j statsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = Stats{
		Received:            j.Received,
		Exported:            j.Exported,
		Queued:              j.Queued,
		QueuedBytes:         j.QueuedBytes,
		InFlight:            j.InFlight,
		Packed:              j.Packed,
		InFlightBytes:       j.InFlightBytes,
		Waiting:             j.Waiting,
		BackPressure:        j.BackPressure,
		BackPressureChanges: j.BackPressureChanges,
		Dropped:             nonZero(j.Dropped),
	}
	if len(j.Destinations) > 0 {
		s.Destinations = make([]DestinationStats, len(j.Destinations))
		for i, d := range j.Destinations {
			s.Destinations[i] = DestinationStats{
				Name: d.Name, Received: d.Received, Exported: d.Exported, Dropped: nonZero(d.Dropped),
				Queued: d.Queued, InFlight: d.InFlight, Retrying: d.Retrying, OutageSpent: d.OutageSpent,
				Recovered: d.Recovered, LeftForNextStart: d.LeftForNext,
			}
		}
	}
	s.Spool = j.Spool.stats()
	return nil
}

// Var returns an expvar.Var whose String is the JSON (see
// Stats.MarshalJSON) of a fresh Stats snapshot, taken each time it is
// read. Publish it under a name of your choice:
//
//	expvar.Publish("steadylog", proc.Var())
//
// and it appears in expvar's /debug/vars. The package never publishes
// anything itself: expvar.Publish panics when a name is taken twice, and
// its registry lives as long as the program, so only the program knows
// which name is free and which processor deserves it. Var does not publish
// either, and each call returns a new, independent value.
//
// Reading the value takes the processor's mutex briefly, as Stats does; it
// never waits on the exporter, and it keeps working after Shutdown,
// reporting the final counts.
func (p *Processor) Var() expvar.Var {
	return expvar.Func(func() any { return p.Stats() })
}

// StatsHandler returns an http.Handler that serves a fresh Stats snapshot
// as JSON (see Stats.MarshalJSON), for example at /debug/steadylog:
//
//	mux.Handle("/debug/steadylog", proc.StatsHandler())
//
// GET and HEAD answer 200 with Content-Type application/json and
// Cache-Control no-store (each response is a new snapshot; HEAD sends the
// headers and no body). Any other method answers 405 Method Not Allowed
// with an Allow: GET, HEAD header. The handler ignores the path and query,
// so it can be mounted anywhere.
//
// Serving takes the processor's mutex briefly, as Stats does: it never
// waits on the exporter, so the endpoint answers while an export hangs, and
// keeps answering after Shutdown with the final counts. The handler does
// no access control; mount it where only operators can reach it.
func (p *Processor) StatsHandler() http.Handler {
	return http.HandlerFunc(p.serveStats)
}

func (p *Processor) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	body, err := p.Stats().MarshalJSON()
	if err != nil { // cannot happen: every field encodes
		http.Error(w, fmt.Sprintf("encoding stats: %v", err), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n') // a terminal prompt after curl stays on its own line
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
