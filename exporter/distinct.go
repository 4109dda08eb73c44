package exporter

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// ErrDuplicateExporter is wrapped by the error [CheckDistinct] returns, and
// with it [NewFanout]'s, when one exporter is used twice.
var ErrDuplicateExporter = errors.New("steadylog/exporter: the same exporter is used twice")

// CheckDistinct returns an error wrapping [ErrDuplicateExporter] when one
// exporter is reached twice from exps: among exps themselves, or among the
// exporters the decorators of this package wrap — a fan-out's members, a
// failover's primary and fallback, the exporter inside [Named] or
// [NewBreaker] — at any depth. Otherwise it returns nil.
//
// Used twice, an exporter would have its Export run concurrently with
// itself (by a fan-out, which calls its members concurrently, or by two of
// steadylog's destinations, each with its own worker) and its Shutdown
// called twice, which the sdklog.Exporter contract forbids. Give each use
// an instance of its own.
//
// Exporters are compared with ==, and only those whose value is comparable
// (reflect.Value.Comparable): an exporter of a func, map or slice type, or a
// struct holding one, is never reported, and never makes CheckDistinct
// panic. Two equal values of a struct type count as the same exporter.
//
// The error names both places as dotted paths of positions: "1.0" is the
// first member of exps[1], a fan-out or a failover (whose member 0 is the
// primary and 1 the fallback); Named and NewBreaker add no position.
func CheckDistinct(exps ...sdklog.Exporter) error {
	seen := make(map[sdklog.Exporter]string)
	var walk func(exp sdklog.Exporter, path string) error
	walk = func(exp sdklog.Exporter, path string) error {
		if isNil(exp) {
			return nil
		}
		if reflect.ValueOf(exp).Comparable() {
			if first, dup := seen[exp]; dup {
				return fmt.Errorf("%w: %s is at %s and at %s; an exporter's Export must not run concurrently with itself, nor its Shutdown be called twice: use an instance of its own for each",
					ErrDuplicateExporter, nameOf(exp), first, path)
			}
			seen[exp] = path
		}
		multi := isFanoutOrFailover(exp)
		for i, w := range wrapped(exp) {
			sub := path
			if multi {
				sub = path + "." + strconv.Itoa(i)
			}
			if err := walk(w, sub); err != nil {
				return err
			}
		}
		return nil
	}
	for i, exp := range exps {
		if err := walk(exp, strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// wrapped returns the exporters exp calls, when exp is one of this
// package's decorators.
func wrapped(exp sdklog.Exporter) []sdklog.Exporter {
	switch e := exp.(type) {
	case *fanout:
		out := make([]sdklog.Exporter, len(e.members))
		for i, m := range e.members {
			out[i] = m.exp
		}
		return out
	case *failover:
		return []sdklog.Exporter{e.primary.exp, e.fallback.exp}
	case *namedExporter:
		return []sdklog.Exporter{e.Exporter}
	case *breakerExporter:
		return []sdklog.Exporter{e.exp}
	}
	return nil
}

func isFanoutOrFailover(exp sdklog.Exporter) bool {
	switch exp.(type) {
	case *fanout, *failover:
		return true
	}
	return false
}
