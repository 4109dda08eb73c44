#!/usr/bin/env bash
# Renders the README's side-by-side picture, docs/outage-sdk-vs-steadylog.png,
# from a real run: one pair of the service benchmark's kill5 scenario
# (benchmarks/cmd/service; the Collector SIGKILLed 5 s into the measurement
# and restarted 5 s later), the SDK's BatchProcessor then steadylog, each with
# its defaults, sampled every 200 ms (-sample), then drawn with deploy/plot.
# The run's results stay beside the picture's source data in
# benchmarks/results/service-kill5-timeline.{json,md}.
#
#   scripts/service-plot.sh [OUT.png]    (default docs/outage-sdk-vs-steadylog.png)
#
# Environment: SCENARIO (kill5), DURATION (25s), FAULT_AT (5s), SAMPLE (200ms),
# CLIENTS (32), RESULTS (benchmarks/results/service-$SCENARIO-timeline).
# About 80 s on 2 cores; the Collector is built once (scripts/build-otelcol.sh).
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
out=$(realpath -m "${1:-docs/outage-sdk-vs-steadylog.png}")
SCENARIO=${SCENARIO:-kill5}
DURATION=${DURATION:-25s}
FAULT_AT=${FAULT_AT:-5s}
SAMPLE=${SAMPLE:-200ms}
CLIENTS=${CLIENTS:-32}
RESULTS=$(realpath -m "${RESULTS:-benchmarks/results/service-$SCENARIO-timeline}")

# Both processors run with their documented defaults.
unset OTEL_BLRP_MAX_QUEUE_SIZE OTEL_BLRP_SCHEDULE_DELAY OTEL_BLRP_EXPORT_TIMEOUT OTEL_BLRP_MAX_EXPORT_BATCH_SIZE

otelcol=$(scripts/build-otelcol.sh | tail -n 1)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/service" ./benchmarks/cmd/service
mkdir -p "$(dirname "$RESULTS")" "$(dirname "$out")"

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
note="Run $started on $(nproc 2>/dev/null || echo '?') CPUs shared by the load generator, the service and the Collector ($(go version | cut -d' ' -f3), load average at start $load); one pair of $SCENARIO, $DURATION per run, sampled every $SAMPLE for docs/$(basename "$out")."

"$bin/service" -otelcol "$otelcol" -scenarios "$SCENARIO" -pairs 1 -duration "$DURATION" -fault-at "$FAULT_AT" \
	-clients "$CLIENTS" -sample "$SAMPLE" -workdir "$bin" -note "$note" \
	-json "$RESULTS.json" -md "$RESULTS.md"
(cd deploy/plot && go run . -service "$RESULTS.json" -scenario "$SCENARIO" -pair 0 -o "$out")
echo "wrote $out from $RESULTS.json"
sed -n '/^## Every run/,$p' "$RESULTS.md"
