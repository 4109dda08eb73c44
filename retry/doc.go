// Package retry is steadylog's error vocabulary: how an exporter, a
// classifier or the caller of a circuit breaker says that a failed request
// must not be retried ([Permanent]) or that the server asked for a delay
// before the next attempt ([After]).
//
// The breaker (package breaker), the exporter decorators (package exporter)
// and the processor (package processor) all read these marks, and the OTLP
// error classifier (package otlperr) writes them. The package imports only
// the standard library, so that code which only marks errors — a custom
// exporter, a classifier — depends on nothing else of steadylog.
//
// Marks wrap the error: errors.Is and errors.As still see everything they
// saw before, and the error's text does not change.
package retry
