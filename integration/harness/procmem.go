package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Memory is a process's resident memory as Linux reports it in
// /proc/<pid>/status, in bytes.
type Memory struct {
	// RSS is the resident set size now (VmRSS).
	RSS int64
	// HWM is the peak resident set size since the process started
	// (VmHWM): a sampler that reads it misses no peak between two reads.
	HWM int64
}

// ErrNoMemory is returned by ReadMemory when the status holds no VmRSS
// or VmHWM: the process has exited and not been reaped yet (a zombie), or
// it is a kernel thread.
var ErrNoMemory = errors.New("harness: no VmRSS/VmHWM in the process status")

// ReadMemory reads the resident memory of process pid from
// /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatusMemory(b)
}

// parseStatusMemory reads VmRSS and VmHWM ("VmRSS:\t  1234 kB") from the
// text of a /proc/<pid>/status.
func parseStatusMemory(status []byte) (Memory, error) {
	var m Memory
	var found int
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return Memory{}, fmt.Errorf("harness: %s in the process status: %q", key, rest)
		}
		kib, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("harness: %s in the process status: %w", key, err)
		}
		*dst = kib << 10
		found++
	}
	if found != 2 {
		return Memory{}, ErrNoMemory
	}
	return m, nil
}
