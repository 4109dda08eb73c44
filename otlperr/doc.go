// Package otlperr classifies the errors of the OpenTelemetry OTLP log
// exporters (otlploghttp and otlploggrpc) with steadylog's retry
// vocabulary: [Classify] marks the errors that retrying cannot fix
// ([retry.Permanent]) and carries the delay the server asked for
// ([retry.After]), so that a circuit breaker and a retry loop do the right
// thing.
//
// steadylog's processor applies Classify by default
// (processor.WithErrorClassifier), and hands it to the breakers below it.
// An exporter.NewBreaker used outside a steadylog processor classifies
// nothing unless told to:
//
//	exp := exporter.MustBreaker(otlpExporter, b, exporter.WithStandaloneClassifier(otlperr.Classify))
//
// The package is separate from package exporter so that the decorators do
// not pull in gRPC: this one imports google.golang.org/grpc for the status
// codes and RetryInfo details of otlploggrpc's errors.
//
// # What is inferred
//
// The gRPC exporter's errors are gRPC statuses, read through the public
// GRPCStatus method, codes and details. The HTTP exporter, as of v0.23.0,
// exports none of what classification needs, so Classify infers it:
//
//   - the status code of a non-retryable response (4xx other than 429,
//     other 5xx) exists only in the error's text, "failed to send logs to
//     URL: 400 Bad Request (body: ...)", which a regular expression reads;
//   - a retryable response (429, 502, 503, 504) is an unexported
//     retryableError, recognised by its type's name and package, and its
//     Retry-After delay is in that type's unexported throttle field, read
//     by reflection (its As method matches only its own unexported type);
//   - an OTLP partial success is an internal.PartialSuccess, a package
//     steadylog cannot import, recognised by its type's name and package;
//   - an oversized request exists only as the text "request body too
//     large: exceeded" (otlploghttp) or "request message too large:
//     exceeded" (otlploggrpc).
//
// Tests against real v0.23.0 exporters and local servers pin each of
// these. If a later version changes one, that piece of the classification
// is lost — the error passes unchanged, or without its delay, and is
// treated as a transient failure — which is the classification every other
// error gets; nothing else breaks.
package otlperr
