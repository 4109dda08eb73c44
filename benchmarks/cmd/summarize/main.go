// Command summarize turns one measurement run into a markdown report: the
// raw `go test -bench` output of the benchmarks package and the JSON written
// by cmd/sustained, cmd/memory and cmd/hung. It computes medians per
// implementation, the steadylog/SDK ratios, each processor's share of a
// full logging call (t(processor) − t(noop)), and checks the project's
// targets against the run, marking each PASS or FAIL.
//
// Every input but -bench is optional; a missing part reads "Not run".
//
// Usage:
//
//	summarize -bench bench.txt [-sustained s.json] [-memory m.json]
//	          [-hung h.json] [-note text] [-o summary.md]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
)

// errBadFlag wraps every invalid flag value.
var errBadFlag = errors.New("summarize: invalid flag")

func main() {
	if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

// readOptional reads a program's JSON report; an empty path means not run.
func readOptional[T any](path string) (*harness.Report[T], error) {
	if path == "" {
		return nil, nil
	}
	var rep harness.Report[T]
	if err := harness.ReadJSON(path, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

func mainErr(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("summarize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	benchPath := fs.String("bench", "", "raw `go test -bench` output (required)")
	sustained := fs.String("sustained", "", "JSON from cmd/sustained")
	memory := fs.String("memory", "", "JSON from cmd/memory")
	hung := fs.String("hung", "", "JSON from cmd/hung")
	note := fs.String("note", "", "a line to print under the title (e.g. how the run was made)")
	out := fs.String("o", "", "write the markdown here instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *benchPath == "" {
		return fmt.Errorf("%w: -bench is required", errBadFlag)
	}
	f, err := os.Open(*benchPath)
	if err != nil {
		return fmt.Errorf("summarize: %w", err)
	}
	defer f.Close()
	in := inputs{note: *note}
	if in.bench, err = parseBench(f); err != nil {
		return err
	}
	if in.sustained, err = readOptional[harness.Sustained](*sustained); err != nil {
		return err
	}
	if in.memory, err = readOptional[harness.Memory](*memory); err != nil {
		return err
	}
	if in.hung, err = readOptional[harness.Hung](*hung); err != nil {
		return err
	}
	var buf bytes.Buffer
	in.write(&buf)
	if *out == "" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}
