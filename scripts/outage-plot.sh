#!/usr/bin/env bash
# Renders the README's picture, docs/outage.png, from a real run: brings the
# demo stack up (scripts/demo-stack.sh), lets loadgen run, stops the Collector
# for OUTAGE seconds, starts it again, lets the stack recover, then asks the
# stack's Prometheus for the run's time series and draws them with
# deploy/plot (gonum.org/v1/plot), and takes the stack down.
#
#   scripts/outage-plot.sh [OUT.png]        (default docs/outage.png)
#
# Environment: STEADYLOG_PLOT_BEFORE (s, default 40), STEADYLOG_PLOT_OUTAGE
# (30), STEADYLOG_PLOT_AFTER (45); and what scripts/demo-stack.sh reads. The
# waits are the run's shape, not synchronisation. About 2.5 minutes.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$repo_root/docs/outage.png}")
before=${STEADYLOG_PLOT_BEFORE:-40}
outage=${STEADYLOG_PLOT_OUTAGE:-30}
after=${STEADYLOG_PLOT_AFTER:-45}
export STEADYLOG_DEMO_PROJECT=${STEADYLOG_DEMO_PROJECT:-steadylog-plot}
# The picture shows steadylog's defaults: no count bound for loadgen (see
# docker-compose.yaml), unless the caller sets one.
export STEADYLOG_DEMO_MAX_QUEUE_SIZE=${STEADYLOG_DEMO_MAX_QUEUE_SIZE-}
stack="$repo_root/scripts/demo-stack.sh"

trap '"$stack" down >/dev/null 2>&1 || true' EXIT
"$stack" up
start=$(date +%s)
sleep "$before"
outage_start=$(date +%s)
"$stack" stop-collector
sleep "$outage"
"$stack" start-collector
outage_end=$(date +%s)
sleep "$after"
end=$(date +%s)
# One more scrape interval so that the last samples are in.
sleep 6
(cd "$repo_root/deploy/plot" && go run . -prometheus http://127.0.0.1:9090 \
  -start "$start" -end "$end" -outage-start "$outage_start" -outage-end "$outage_end" \
  -title "steadylog demo (loadgen 2,000 records/s): the Collector stopped for ${outage} s" -o "$out")
echo "wrote $out (run $(date -u -d "@$start" +%FT%TZ), Collector stopped ${outage_start}–${outage_end})"
