package exporter

import (
	"context"
	"fmt"
	"runtime/debug"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/internal/nilness"
)

// The safe* functions call one exporter method and turn a panic into a
// *PanicError, so that the decorators can report it like any other error.

func safeExport(ctx context.Context, exp sdklog.Exporter, records []sdklog.Record) (err error) {
	defer recoverInto(&err, "Export")
	return exp.Export(ctx, records)
}

func safeForceFlush(ctx context.Context, exp sdklog.Exporter) (err error) {
	defer recoverInto(&err, "ForceFlush")
	return exp.ForceFlush(ctx)
}

func safeShutdown(ctx context.Context, exp sdklog.Exporter) (err error) {
	defer recoverInto(&err, "Shutdown")
	return exp.Shutdown(ctx)
}

func recoverInto(err *error, method string) {
	if r := recover(); r != nil {
		*err = &PanicError{Method: method, Value: r, Stack: debug.Stack()}
	}
}

// NameOf returns the name exp gives itself and true, when it has a Name()
// string method (see Named) that does not panic; else "" and false. A
// Name method that panics is user code gone wrong, not a reason to fail.
func NameOf(exp sdklog.Exporter) (name string, ok bool) {
	n, has := exp.(interface{ Name() string })
	if !has {
		return "", false
	}
	defer func() {
		if recover() != nil {
			name, ok = "", false
		}
	}()
	return n.Name(), true
}

// nameOf returns the name of exp (NameOf), else its dynamic type.
func nameOf(exp sdklog.Exporter) string {
	if name, ok := NameOf(exp); ok {
		return name
	}
	return fmt.Sprintf("%T", exp)
}

// isNil reports whether exp is nil, typed nil included (see nilness.Is).
func isNil(exp sdklog.Exporter) bool { return nilness.Is(exp) }

// Named returns exp with a name, used to attribute its errors in a fan-out
// or failover ("exporter 1 (audit-file): ..."). Without a name, a member is
// named by its Go type, such as "*otlploghttp.Exporter".
//
// Named of a nil exporter (typed nil included) is nil, so that the
// constructor it is handed to reports the nil exporter.
func Named(name string, exp sdklog.Exporter) sdklog.Exporter {
	if isNil(exp) {
		return nil
	}
	return &namedExporter{Exporter: exp, name: name}
}

type namedExporter struct {
	sdklog.Exporter
	name string
}

func (n *namedExporter) Name() string { return n.name }
