// Package harness holds what the steadylog benchmarks and measurement
// programs share: the three record shapes, the exporters (counting, slow,
// hung), a factory that builds either processor under comparison with its
// default settings, a latency histogram, a reader for the peak resident set
// size, and the JSON result types the programs write and the summary reads.
//
// Both processors are always built the same way from the same exporter, so
// every difference a benchmark shows belongs to the processor:
//
//	p, err := harness.NewProcessor(harness.ImplSDK, exp, harness.Config{})
//
// The package is internal to the benchmarks: it is measurement scaffolding,
// not library API.
package harness
