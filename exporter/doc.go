// Package exporter decorates OpenTelemetry log exporters
// ([go.opentelemetry.io/otel/sdk/log.Exporter]) so that a failing backend
// costs the application as little as possible.
//
//   - [NewBreaker] guards an exporter with a circuit breaker from package
//     breaker: while the backend is down, Export fails at once with an
//     error wrapping [breaker.ErrOpen] instead of tying up the export
//     goroutine until a timeout, and the breaker probes the backend before
//     letting traffic through again.
//   - [NewFanout] sends each batch to several exporters — a
//     collector and an audit file, say — isolated from each other: an
//     error, a panic or a hang in one never delays or harms the others.
//   - [NewFailover] sends batches to a fallback (stdout, a file, a second
//     collector) while the primary fails, and back to the primary once it
//     works again.
//
// Which errors are the backend's fault and which the data's is marked with
// package retry's vocabulary ([retry.Permanent], [retry.After]); package
// otlperr marks the OTLP exporters' errors so. Under steadylog's processor
// the processor's classifier is the one every breaker below it applies;
// elsewhere, give NewBreaker one with [WithStandaloneClassifier].
//
// Every decorator recovers panics of the exporters it wraps and returns them
// as [*PanicError], and attributes errors of several exporters to each one
// with [*MemberError]; [Named] gives an exporter a name for those messages.
//
// The decorators compose. A typical production set-up guards the OTLP
// exporter with a breaker and falls back to a local file:
//
//	b := breaker.MustNew(breaker.Config{Name: "collector"})
//	exp := exporter.MustFailover(
//		exporter.MustBreaker(otlpExporter, b),
//		exporter.Named("spool", fileExporter),
//	)
//
// Misuse found at construction — a nil exporter or breaker, one exporter
// used twice in a fan-out or failover (see [CheckDistinct]), an invalid
// option — is an error of the New… constructor; the Must… forms, for
// exporters composed inline, panic with it.
package exporter
