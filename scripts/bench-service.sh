#!/usr/bin/env bash
# Runs the service benchmark (benchmarks/cmd/service): a real net/http service
# in a child process logging 3 records per request through slog → otelslog →
# the processor (the SDK's BatchProcessor, or steadylog with a default breaker
# and no options) → otlploghttp → a real OpenTelemetry Collector on 127.0.0.1,
# under closed-loop load, with the Collector healthy, SIGKILLed for 1 s and 5 s,
# and SIGSTOPped for 8 s; sdk and steadylog in interleaved pairs, plus a
# no-logging baseline. Writes benchmarks/results/service.{md,json}.
#
# Usage: scripts/bench-service.sh [--pairs P] [--duration D] [--scenarios LIST] [--out DIR] [--quick]
#
# Settings (flags win over environment variables):
#   PAIRS=3          pairs of runs per scenario (each pair: sdk and steadylog)
#   DURATION=25s     measured duration of each run (after a 2 s warm-up)
#   FAULT_AT=5s      when the fault starts, from the measurement's start
#   CLIENTS=32       concurrent closed-loop clients
#   SCENARIOS=healthy,blip,kill5,stop8
#   OUT=benchmarks/results   NAME=service (writes $OUT/$NAME.md and .json)
#   QUICK=1          a quick pass (~2 min): 1 pair, 11 s runs, fault at 1 s
#
# With the defaults a run takes about 35 s and the whole benchmark (27 runs)
# about 16 minutes on 2 cores. The load generator, the service and the
# Collector share the machine's cores: compare the paired ratios, not the
# absolute figures, and run it on a machine as quiet as you can.
set -euo pipefail

cd "$(dirname "$0")/.."

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--pairs) PAIRS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--scenarios) SCENARIOS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--quick) QUICK=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench-service.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

if [ "${QUICK:-0}" = 1 ]; then
	PAIRS=${PAIRS:-1}
	DURATION=${DURATION:-11s}
	FAULT_AT=${FAULT_AT:-1s}
fi
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-25s}
FAULT_AT=${FAULT_AT:-5s}
CLIENTS=${CLIENTS:-32}
SCENARIOS=${SCENARIOS:-healthy,blip,kill5,stop8}
OUT=${OUT:-benchmarks/results}
NAME=${NAME:-service}

# Both processors must run with their documented defaults.
unset OTEL_BLRP_MAX_QUEUE_SIZE OTEL_BLRP_SCHEDULE_DELAY OTEL_BLRP_EXPORT_TIMEOUT OTEL_BLRP_MAX_EXPORT_BATCH_SIZE

otelcol=$(scripts/build-otelcol.sh | tail -n 1)
mkdir -p "$OUT"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/service" ./benchmarks/cmd/service

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
note="Run $started on $(nproc 2>/dev/null || echo '?') CPUs shared by the load generator, the service and the Collector ($(go version | cut -d' ' -f3), load average at start $load); $PAIRS pairs, $DURATION per run. Absolute figures drift with the machine's load: compare the paired ratios."

"$bin/service" -otelcol "$otelcol" -pairs "$PAIRS" -duration "$DURATION" -fault-at "$FAULT_AT" \
	-clients "$CLIENTS" -scenarios "$SCENARIOS" -workdir "$bin" -note "$note" \
	-json "$OUT/$NAME.json" -md "$OUT/$NAME.md"
echo "== done: $OUT/$NAME.md"
sed -n '/^## Paired/,/^## Each/p' "$OUT/$NAME.md"
