// Package spoolrecords is the content of the records the spool's
// end-to-end tests emit from a child process (spoolchild) and look for in
// the Collector's output: each is a function of its sequence number, so
// that the test can tell a record that arrived identical from one that
// did not.
package spoolrecords

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/steadylog/steadylog/integration/harness"
)

// SeqKey is the attribute that numbers the records.
const SeqKey = "seq"

// Scopes are the instrumentation scopes records alternate between.
var Scopes = []struct{ Name, Version, SchemaURL string }{
	{"spoolchild/orders", "1.2.3", "https://opentelemetry.io/schemas/1.26.0"},
	{"spoolchild/payments", "0.9.0", ""},
}

// ResourceAttrs are the attributes of the service's resource.
var ResourceAttrs = map[string]string{
	"service.name":           "spoolchild",
	"service.version":        "4.5.6",
	"deployment.environment": "spool-test",
}

// Resource is the service's resource.
func Resource() *resource.Resource {
	var kvs []attribute.KeyValue
	for k, v := range ResourceAttrs {
		kvs = append(kvs, attribute.String(k, v))
	}
	return resource.NewSchemaless(kvs...)
}

// Loggers returns one slog.Logger per scope.
func Loggers(lp *sdklog.LoggerProvider) []*slog.Logger {
	out := make([]*slog.Logger, len(Scopes))
	for i, s := range Scopes {
		opts := []otelslog.Option{otelslog.WithLoggerProvider(lp), otelslog.WithVersion(s.Version)}
		if s.SchemaURL != "" {
			opts = append(opts, otelslog.WithSchemaURL(s.SchemaURL))
		}
		out[i] = slog.New(otelslog.NewHandler(s.Name, opts...))
	}
	return out
}

// Expected is record i's content.
type Expected struct {
	Scope    int // index in Scopes
	Body     string
	Severity string // slog's level name, as otelslog sets the severity text
	UserID   string
	Roles    []string
	Amount   float64
}

// ExpectedRecord returns what record i holds.
func ExpectedRecord(i int) Expected {
	levels := []string{"INFO", "WARN", "ERROR"}
	return Expected{
		Scope:    i % len(Scopes),
		Body:     fmt.Sprintf("order %d placed", i),
		Severity: levels[i%len(levels)],
		UserID:   fmt.Sprintf("u-%d", i*7),
		Roles:    []string{"buyer", fmt.Sprintf("tier-%d", i%4)},
		Amount:   float64(i) + 0.25,
	}
}

// Emit logs record i.
func Emit(loggers []*slog.Logger, i int) {
	e := ExpectedRecord(i)
	level := map[string]slog.Level{"INFO": slog.LevelInfo, "WARN": slog.LevelWarn, "ERROR": slog.LevelError}[e.Severity]
	loggers[e.Scope].Log(context.Background(), level, e.Body,
		slog.Int(SeqKey, i),
		slog.Group("user", slog.String("id", e.UserID), slog.Any("roles", e.Roles)),
		slog.Float64("amount", e.Amount),
	)
}

// severityNumbers are the OTLP severity numbers otelslog gives slog's
// levels.
var severityNumbers = map[string]int{"INFO": 9, "WARN": 13, "ERROR": 17}

// Diff compares a record read from the Collector's output with record
// seq's content, and returns what differs (nothing when it is identical in
// body, attributes, severity, scope and resource).
func Diff(seq int, r harness.FileRecord) []string {
	e := ExpectedRecord(seq)
	s := Scopes[e.Scope]
	var diffs []string
	check := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s: got %#v, want %#v", what, got, want))
		}
	}
	check("body", r.Body, e.Body)
	check("severity text", r.SeverityText, e.Severity)
	check("severity number", r.SeverityNumber, severityNumbers[e.Severity])
	roles := make([]any, len(e.Roles))
	for i, role := range e.Roles {
		roles[i] = role
	}
	check("attributes", r.Attributes, map[string]any{
		SeqKey:   int64(seq),
		"user":   map[string]any{"id": e.UserID, "roles": roles},
		"amount": e.Amount,
	})
	check("scope name", r.ScopeName, s.Name)
	check("scope version", r.ScopeVersion, s.Version)
	check("scope schema URL", r.ScopeSchema, s.SchemaURL)
	res := make(map[string]any, len(ResourceAttrs))
	for k, v := range ResourceAttrs {
		res[k] = v
	}
	check("resource", r.Resource, res)
	if r.TimeUnixNano == "" || r.TimeUnixNano == "0" {
		diffs = append(diffs, "timestamp: missing")
	}
	return diffs
}
