package exporter

import "context"

type earlyProbeKey struct{}

// WithEarlyProbe returns a context that lets a breaker in front of the
// exporter ([NewBreaker]) admit this Export call as an early probe
// ([breaker.Breaker.AllowEarly]) while it is open, instead of refusing it
// until its wait is over. steadylog's processor asks for it on its retry
// backoff's schedule while a destination's breaker is open and records are
// being dropped for want of room: waiting out the breaker's full wait then
// costs records, a probe costs one call. Exporters other than NewBreaker's
// ignore it.
func WithEarlyProbe(ctx context.Context) context.Context {
	return context.WithValue(ctx, earlyProbeKey{}, true)
}

// earlyProbe reports whether ctx came from WithEarlyProbe.
func earlyProbe(ctx context.Context) bool {
	v, _ := ctx.Value(earlyProbeKey{}).(bool)
	return v
}
