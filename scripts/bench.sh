#!/usr/bin/env bash
# Compares steadylog's processor with the OTel Go SDK BatchProcessor in one
# run and writes the results to benchmarks/results/:
#
#   bench.txt        raw `go test -bench` output (the Go benchmarks)
#   benchstat.txt    benchstat -col /impl: one column per processor, SDK as base
#   sustained.{txt,json}  cmd/sustained: N goroutines flooding for a while
#   memory.{txt,json}     cmd/memory: peak RSS with 1 MiB records, slow exporter
#   hung.{txt,json}       cmd/hung: OnEmit latency while Export hangs
#   summary.md       medians, ratios, processor shares and the targets checked
#
# Usage: scripts/bench.sh [--quick] [--count N] [--benchtime T] [--bench REGEX] [--out DIR]
#
# Settings (flags win over environment variables):
#   COUNT=6              rounds of the Go benchmarks (samples per benchmark)
#   BENCHTIME=1s         -benchtime of the Go benchmarks
#   BENCH=.              which Go benchmarks to run
#   OUT=benchmarks/results
#   SUSTAINED_DURATION=5s  MEMORY_DURATION=10s  HUNG_DURATION=10s
#   QUICK=1              a quick pass (< 2 min): COUNT=1, BENCHTIME=100ms, programs 1-2 s
#
# A full run with the defaults takes about 8-10 minutes on 2 cores. Run it on a quiet
# machine: both processors are measured in the same run, so their ratio holds
# even when absolute times drift, but a busy machine still adds noise.
set -euo pipefail

cd "$(dirname "$0")/.."

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--count) COUNT=$2; shift ;;
	--benchtime) BENCHTIME=$2; shift ;;
	--bench) BENCH=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	COUNT=${COUNT:-1}
	BENCHTIME=${BENCHTIME:-100ms}
	SUSTAINED_DURATION=${SUSTAINED_DURATION:-1s}
	MEMORY_DURATION=${MEMORY_DURATION:-2s}
	HUNG_DURATION=${HUNG_DURATION:-2s}
	HUNG_SHUTDOWN=${HUNG_SHUTDOWN:-500ms}
fi
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-.}
OUT=${OUT:-benchmarks/results}
SUSTAINED_DURATION=${SUSTAINED_DURATION:-5s}
MEMORY_DURATION=${MEMORY_DURATION:-10s}
HUNG_DURATION=${HUNG_DURATION:-10s}
HUNG_SHUTDOWN=${HUNG_SHUTDOWN:-2s}

case "$COUNT" in '' | *[!0-9]* | 0) echo "bench.sh: COUNT must be a positive integer, got '$COUNT'" >&2; exit 2 ;; esac

# Both processors must run with their documented defaults: the OTEL_BLRP_*
# variables would change the queue, batch and interval of both.
unset OTEL_BLRP_MAX_QUEUE_SIZE OTEL_BLRP_SCHEDULE_DELAY OTEL_BLRP_EXPORT_TIMEOUT OTEL_BLRP_MAX_EXPORT_BATCH_SIZE

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

benchstat=$(command -v benchstat || true)
if [ -z "$benchstat" ]; then
	benchstat="$(go env GOPATH)/bin/benchstat"
	if [ ! -x "$benchstat" ]; then
		echo "== installing benchstat"
		go install golang.org/x/perf/cmd/benchstat@latest
	fi
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
echo "== building the measurement programs"
go build -o "$bin/" ./benchmarks/cmd/sustained ./benchmarks/cmd/memory ./benchmarks/cmd/hung ./benchmarks/cmd/summarize

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# The benchmarks run as COUNT rounds of -count 1 rather than one -count COUNT
# run: -count repeats each sub-benchmark back to back, so the SDK's samples
# and steadylog's would come from different minutes of a machine whose load
# drifts. In rounds, the implementations of one configuration always run
# next to each other, and the medians span the whole run.
echo "== Go benchmarks: $COUNT rounds, -benchtime $BENCHTIME -bench '$BENCH'"
go test -c -o "$bin/benchmarks.test" ./benchmarks/
: >"$OUT/bench.txt"
for round in $(seq 1 "$COUNT"); do
	echo "-- round $round/$COUNT" >&2
	"$bin/benchmarks.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.count 1 \
		-test.benchtime "$BENCHTIME" -test.timeout 60m | tee -a "$OUT/bench.txt"
done

echo "== benchstat"
"$benchstat" -col '/impl@(sdk steadylog noop)' "$OUT/bench.txt" | tee "$OUT/benchstat.txt"

echo "== sustained throughput ($SUSTAINED_DURATION per run)"
"$bin/sustained" -duration "$SUSTAINED_DURATION" -json "$OUT/sustained.json" | tee "$OUT/sustained.txt"

echo "== peak memory ($MEMORY_DURATION per processor)"
"$bin/memory" -duration "$MEMORY_DURATION" -json "$OUT/memory.json" | tee "$OUT/memory.txt"

echo "== hung exporter ($HUNG_DURATION per processor)"
"$bin/hung" -duration "$HUNG_DURATION" -shutdown-timeout "$HUNG_SHUTDOWN" -json "$OUT/hung.json" | tee "$OUT/hung.txt"

load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
mode="full"
[ "$QUICK" = 1 ] && mode="QUICK (indicative only)"
note="Run $started, $mode: -count $COUNT, -benchtime $BENCHTIME; sustained $SUSTAINED_DURATION, memory $MEMORY_DURATION, hung $HUNG_DURATION; load average before $load_before, after $load_after; $(nproc 2>/dev/null || echo '?') CPUs; $(go version | cut -d' ' -f3)."

"$bin/summarize" -bench "$OUT/bench.txt" -sustained "$OUT/sustained.json" -memory "$OUT/memory.json" \
	-hung "$OUT/hung.json" -note "$note" -o "$OUT/summary.md"

echo "== done: $OUT/summary.md"
grep -E '^\| (target|.*\*\*(PASS|FAIL|n/a)\*\*)' "$OUT/summary.md" || true
echo "all results in $OUT"
