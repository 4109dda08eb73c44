package harness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrNoField is returned when /proc/self/status has no line for the field
// asked for (for example on a kernel without VmHWM).
var ErrNoField = errors.New("harness: field not found in process status")

// PeakRSS returns this process's peak resident set size in bytes, the
// kernel's VmHWM ("high water mark"). It works on Linux only.
//
// The kernel keeps the peak itself, so no sampling can miss a short spike.
// That is also why each processor is measured in its own process: a peak
// once reached never goes down.
func PeakRSS() (int64, error) { return statusField("VmHWM") }

// CurrentRSS returns this process's current resident set size in bytes
// (VmRSS).
func CurrentRSS() (int64, error) { return statusField("VmRSS") }

func statusField(name string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("harness: %w", err)
	}
	defer f.Close()
	return ParseStatusField(f, name)
}

// ParseStatusField reads a /proc/<pid>/status document and returns the
// named field ("VmHWM", "VmRSS", …), given in kB, converted to bytes.
func ParseStatusField(r io.Reader, name string) (int64, error) {
	sc := bufio.NewScanner(r)
	prefix := name + ":"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, prefix))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("harness: malformed %s line %q", name, line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("harness: malformed %s line %q", name, line)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("harness: reading status: %w", err)
	}
	return 0, fmt.Errorf("%w: %s", ErrNoField, name)
}
