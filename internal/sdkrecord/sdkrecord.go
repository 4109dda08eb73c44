// Package sdkrecord holds what steadylog relies on of the layout of
// go.opentelemetry.io/otel/sdk/log's Record that the SDK does not export.
// Its tests pin each fact against the SDK in use, so that an SDK upgrade
// that changes one fails them instead of skewing the callers.
package sdkrecord

// InlineAttrs is the number of attributes a Record stores inline
// (attributesInlineCount in the SDK). The attributes beyond them live in a
// separately allocated slice, which Record.Clone copies: memguard counts
// that slice in a record's size, and the processor clones only the records
// that have one.
const InlineAttrs = 5
