package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// FileCount is what CountFile found in a file exporter output.
type FileCount struct {
	// Lines is the number of lines (one per exported batch, possibly torn).
	Lines int
	// Records counts every log record found, duplicates included.
	Records int
	// Distinct counts distinct sequence numbers.
	Distinct int
	// Duplicates is the number of records whose sequence number was seen before
	// (at-least-once delivery resends a batch whose acknowledgement was lost).
	Duplicates int
	// WithoutSeq counts records lacking the sequence attribute.
	WithoutSeq int
	// TornLines counts lines that were not one complete JSON document: a SIGKILL
	// strands the end of a line in the exporter's write buffer, and the restarted
	// collector appends to it. Their intact parts are still counted.
	TornLines int
	// Salvaged counts records found only by scanning a torn fragment: their
	// sequence attribute reached the file but the record may be incomplete.
	Salvaged int
	// Seqs maps each sequence number to how often it occurs.
	Seqs map[int64]int
}

// Missing returns the sequence numbers in [0, n) that the file does not hold.
func (fc FileCount) Missing(n int) []int64 {
	var out []int64
	for i := range int64(n) {
		if fc.Seqs[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// DuplicatedSeqs returns the sequence numbers seen more than once, sorted.
func (fc FileCount) DuplicatedSeqs() []int64 {
	var out []int64
	for s, n := range fc.Seqs {
		if n > 1 {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// String summarises the count for test logs.
func (fc FileCount) String() string {
	return fmt.Sprintf("records=%d distinct=%d duplicates=%d without_seq=%d lines=%d torn_lines=%d salvaged=%d",
		fc.Records, fc.Distinct, fc.Duplicates, fc.WithoutSeq, fc.Lines, fc.TornLines, fc.Salvaged)
}

// ErrSeqKeyEmpty is returned by CountFile when no sequence attribute key is given.
var ErrSeqKeyEmpty = errors.New("harness: sequence attribute key is empty")

// otlpLine is the part of an OTLP/JSON ExportLogsServiceRequest the count needs.
type otlpLine struct {
	ResourceLogs []struct {
		ScopeLogs []struct {
			LogRecords []struct {
				Attributes []otlpKeyValue `json:"attributes"`
			} `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

type otlpKeyValue struct {
	Key   string `json:"key"`
	Value struct {
		// OTLP/JSON encodes int64 as a string; a number is accepted too.
		IntValue    json.RawMessage `json:"intValue"`
		StringValue *string         `json:"stringValue"`
	} `json:"value"`
}

var lineStart = []byte(`{"resourceLogs":`)

// CountFile reads a file exporter output (JSON lines of OTLP log requests) and
// counts the log records in resourceLogs[].scopeLogs[].logRecords[], keyed by the
// integer (or decimal string) attribute seqKey. A file that does not exist yet
// counts as empty. A last line without its newline (still being written) is
// counted as far as it goes.
func CountFile(path, seqKey string) (FileCount, error) {
	fc := FileCount{Seqs: make(map[int64]int)}
	if seqKey == "" {
		return fc, ErrSeqKeyEmpty
	}
	salvage := regexp.MustCompile(`\{"key":` + regexp.QuoteMeta(strconv.Quote(seqKey)) +
		`,"value":\{(?:"intValue":"?(-?\d+)"?|"stringValue":"(-?\d+)")\}\}`)
	err := eachLine(path, func(_ int, line []byte) error {
		fc.Lines++
		fc.countLine(line, seqKey, salvage)
		return nil
	})
	if err != nil {
		return fc, err
	}
	fc.Distinct = len(fc.Seqs)
	return fc, nil
}

func (fc *FileCount) countLine(line []byte, seqKey string, salvage *regexp.Regexp) {
	if fc.countDoc(line, seqKey) {
		return
	}
	fc.TornLines++
	// A torn line is a fragment of one document followed by whole documents that
	// a restarted collector appended. Parse each piece that starts a document;
	// scan what does not parse for sequence attributes.
	for _, piece := range tornPieces(line) {
		if fc.countDoc(piece, seqKey) {
			continue
		}
		for _, m := range salvage.FindAllSubmatch(piece, -1) {
			digits := m[1]
			if digits == nil {
				digits = m[2]
			}
			if seq, err := strconv.ParseInt(string(digits), 10, 64); err == nil {
				fc.add(seq)
				fc.Salvaged++
			}
		}
	}
}

// countDoc counts one complete document; it reports false, counting nothing,
// when doc is not valid JSON.
func (fc *FileCount) countDoc(doc []byte, seqKey string) bool {
	var l otlpLine
	if err := json.Unmarshal(doc, &l); err != nil {
		return false
	}
	for _, rl := range l.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, rec := range sl.LogRecords {
				seq, ok := seqOf(rec.Attributes, seqKey)
				if !ok {
					fc.Records++
					fc.WithoutSeq++
					continue
				}
				fc.add(seq)
			}
		}
	}
	return true
}

func (fc *FileCount) add(seq int64) {
	fc.Records++
	if fc.Seqs[seq] > 0 {
		fc.Duplicates++
	}
	fc.Seqs[seq]++
}

func seqOf(attrs []otlpKeyValue, key string) (int64, bool) {
	for _, kv := range attrs {
		if kv.Key != key {
			continue
		}
		if len(kv.Value.IntValue) > 0 {
			s := string(bytes.Trim(kv.Value.IntValue, `"`))
			if v, err := strconv.ParseInt(s, 10, 64); err == nil {
				return v, true
			}
		}
		if kv.Value.StringValue != nil {
			if v, err := strconv.ParseInt(*kv.Value.StringValue, 10, 64); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// eachLine calls fn with each non-blank line of the file at path, trimmed,
// numbered from 1, including a last line without its newline. A file that
// does not exist has no lines.
func eachLine(path string, fn func(n int, line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if ferr := fn(n, line); ferr != nil {
				return ferr
			}
			n++
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tornPieces splits a torn line into its pieces: what comes before the
// first start of a document, if anything, and each document from its
// start to the next.
func tornPieces(line []byte) [][]byte {
	var starts []int
	for off := 0; ; {
		i := bytes.Index(line[off:], lineStart)
		if i < 0 {
			break
		}
		starts = append(starts, off+i)
		off += i + len(lineStart)
	}
	if len(starts) == 0 || starts[0] != 0 {
		starts = append([]int{0}, starts...)
	}
	pieces := make([][]byte, len(starts))
	for k, s := range starts {
		end := len(line)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		pieces[k] = line[s:end]
	}
	return pieces
}
