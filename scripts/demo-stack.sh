#!/usr/bin/env bash
# Brings the steadylog demo stack (docker-compose.yaml: loadgen → Collector →
# Prometheus → Grafana) up and leaves it running, or takes it down again:
#
#   scripts/demo-stack.sh up                # then http://127.0.0.1:9090, http://127.0.0.1:3000
#   scripts/demo-stack.sh stop-collector    # an outage: watch the breaker, drop and queue panels
#   scripts/demo-stack.sh start-collector
#   scripts/demo-stack.sh status
#   scripts/demo-stack.sh down              # containers, volumes, images it built, its engine
#
# What it picks, so that one command works everywhere:
#   - Compose: `docker compose` (v2) when it answers, else `docker-compose` (v1).
#   - Engine: the one `docker info` reaches; when none runs and it is root, a
#     dockerd of its own (no bridge, no iptables, its socket and data under the
#     state directory), stopped again by `down`.
#   - Images: the published ones (docker compose up --build) when the engine
#     can pull them; else the local stand-ins of TestComposeStack
#     (integration/compose/*.Dockerfile), built from the project's Collector
#     build (scripts/build-otelcol.sh), Debian's Prometheus
#     (scripts/install-prometheus.sh) and loadgen, on the host network with
#     every listener on 127.0.0.1. Grafana has no stand-in: in that mode it is
#     not started and Prometheus is the demo's UI.
# Every port is on 127.0.0.1 either way.
#
# Environment:
#   STEADYLOG_DEMO_IMAGES    auto (default), published or standin
#   STEADYLOG_DEMO_PROJECT   compose project name (default steadylog-demo)
#   STEADYLOG_DEMO_STATE     state directory (default ${XDG_STATE_HOME:-$HOME/.local/state}/steadylog-demo)
#   STEADYLOG_OTELCOL_BIN, STEADYLOG_PROMETHEUS_BIN   binaries for the stand-ins (else built/installed)
#
# Tested by integration/demo_script_test.go (TestDemoStackScript, run by scripts/test).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
project=${STEADYLOG_DEMO_PROJECT:-steadylog-demo}
state=${STEADYLOG_DEMO_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/steadylog-demo}
images_mode=${STEADYLOG_DEMO_IMAGES:-auto}
standin_tag=demo
published_probe=otel/opentelemetry-collector-contrib:0.155.0

log() { printf 'demo-stack: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# compose runs Compose v2 or v1 with the project's files (set by setup_compose).
compose_cmd=()
compose_files=()
compose() { "${compose_cmd[@]}" -p "$project" --project-directory "$repo_root" "${compose_files[@]}" "$@"; }

pick_compose() {
  if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
  else
    die "neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed"
  fi
}

# load_state restores what `up` recorded: the engine's address and the mode.
load_state() {
  if [[ -f "$state/env" ]]; then
    # shellcheck disable=SC1091
    source "$state/env"
    [[ -n "${DEMO_DOCKER_HOST:-}" ]] && export DOCKER_HOST="$DEMO_DOCKER_HOST"
    images_mode=${DEMO_IMAGES:-$images_mode}
  fi
}

# ensure_engine uses a running engine or starts one of its own.
ensure_engine() {
  if docker info >/dev/null 2>&1; then
    return
  fi
  command -v dockerd >/dev/null 2>&1 || die "no Docker engine runs and dockerd is not installed (scripts/install-docker.sh)"
  [[ $(id -u) == 0 ]] || die "no Docker engine runs, and starting dockerd needs root"
  mkdir -p "$state/engine"
  local sock="unix://$state/engine/docker.sock"
  echo '{}' >"$state/engine/daemon.json"
  log "no Docker engine runs: starting dockerd (no bridge, no iptables) at $sock"
  # setsid: the engine outlives this script, which is the point of `up`.
  setsid dockerd --config-file="$state/engine/daemon.json" --host="$sock" \
    --data-root="$state/engine/data" --exec-root="$state/engine/exec" \
    --pidfile="$state/engine/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    >"$state/engine/dockerd.log" 2>&1 </dev/null &
  DEMO_DOCKERD_PID=$!
  export DOCKER_HOST="$sock"
  echo "DEMO_DOCKER_HOST=$sock" >>"$state/env"
  echo "DEMO_DOCKERD_PID=$DEMO_DOCKERD_PID" >>"$state/env"
  for _ in $(seq 1 300); do
    docker info >/dev/null 2>&1 && return
    kill -0 "$DEMO_DOCKERD_PID" 2>/dev/null || { tail -n 20 "$state/engine/dockerd.log" >&2; die "dockerd exited"; }
    sleep 0.2
  done
  die "dockerd did not answer within 60 s (log: $state/engine/dockerd.log)"
}

# pick_images decides published vs stand-in images in auto mode: published
# only when the engine has a bridge network and can pull.
pick_images() {
  [[ "$images_mode" != auto ]] && return
  if [[ -z "${DEMO_DOCKERD_PID:-}" ]] && docker network inspect bridge >/dev/null 2>&1 &&
    timeout 60 docker pull -q "$published_probe" >/dev/null 2>&1; then
    images_mode=published
  else
    images_mode=standin
  fi
}

setup_compose() {
  case "$images_mode" in
    published)
      compose_files=(-f "$repo_root/docker-compose.yaml")
      ;;
    standin)
      # Host networking makes published ports meaningless and Compose v1
      # refuses them: a copy of docker-compose.yaml without its ports: keys
      # (everything else as committed), plus the stand-in override.
      mkdir -p "$state"
      awk '/^    ports:/ { skip = 1; next } skip && /^      - / { next } { skip = 0; print }' \
        "$repo_root/docker-compose.yaml" >"$state/docker-compose.yaml"
      compose_files=(-f "$state/docker-compose.yaml" -f "$repo_root/integration/compose/docker-compose.standin.yaml")
      export STEADYLOG_STANDIN_TAG=$standin_tag
      ;;
    *) die "STEADYLOG_DEMO_IMAGES=$images_mode: want auto, published or standin" ;;
  esac
}

copy_exe() { mkdir -p "$(dirname "$2")" && cp -L "$1" "$2" && chmod 0755 "$2"; }

build_standins() {
  local otelcol=${STEADYLOG_OTELCOL_BIN:-} prom=${STEADYLOG_PROMETHEUS_BIN:-} ctx
  [[ -n "$otelcol" ]] || otelcol=$("$repo_root/scripts/build-otelcol.sh" | tail -n 1)
  [[ -n "$prom" ]] || prom=$("$repo_root/scripts/install-prometheus.sh" | tail -n 1)
  ctx=$(mktemp -d)
  local df="$repo_root/integration/compose"
  mkdir -p "$ctx/otelcol" "$ctx/prometheus/rootfs" "$ctx/prometheus/data" "$ctx/loadgen"
  cp "$df/otelcol.Dockerfile" "$ctx/otelcol/Dockerfile"
  copy_exe "$otelcol" "$ctx/otelcol/otelcol-contrib"
  cp "$df/prometheus.Dockerfile" "$ctx/prometheus/Dockerfile"
  copy_exe "$prom" "$ctx/prometheus/prometheus"
  local lib
  for lib in $(ldd "$prom" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    copy_exe "$lib" "$ctx/prometheus/rootfs$lib"
  done
  cp "$df/loadgen.Dockerfile" "$ctx/loadgen/Dockerfile"
  (cd "$repo_root/examples" && CGO_ENABLED=0 go build -trimpath -o "$ctx/loadgen/loadgen" ./loadgen)
  local name
  for name in otelcol prometheus loadgen; do
    log "building steadylog-standin/$name:$standin_tag"
    if ! docker build -q -t "steadylog-standin/$name:$standin_tag" "$ctx/$name" >/dev/null 2>"$ctx/build.log"; then
      cat "$ctx/build.log" >&2
      rm -rf "$ctx"
      die "docker build of the $name stand-in failed"
    fi
  done
  rm -rf "$ctx"
}

wait_http() { # url seconds
  local i
  for i in $(seq 1 $(($2 * 5))); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

cmd_up() {
  mkdir -p "$state"
  : >"$state/env"
  pick_compose
  ensure_engine
  pick_images
  echo "DEMO_IMAGES=$images_mode" >>"$state/env"
  setup_compose
  log "using ${compose_cmd[*]} with the $images_mode images, project $project"
  if [[ "$images_mode" == standin ]]; then
    build_standins
    compose up -d --no-build
  else
    compose up -d --build
  fi
  wait_http http://127.0.0.1:9090/-/ready 60 || die "Prometheus did not become ready on 127.0.0.1:9090"
  wait_http http://127.0.0.1:9464/metrics 60 || die "loadgen's metrics endpoint did not answer on 127.0.0.1:9464"
  echo "Prometheus: http://127.0.0.1:9090   loadgen's metrics: http://127.0.0.1:9464/metrics"
  if [[ "$images_mode" == published ]]; then
    echo "Grafana:    http://127.0.0.1:3000 (dashboard \"steadylog\")"
  else
    echo "Grafana:    not started (no stand-in image without a registry); Prometheus is the UI"
  fi
  echo "An outage: $0 stop-collector; later $0 start-collector. Down: $0 down"
}

cmd_down() {
  load_state
  pick_compose
  if docker info >/dev/null 2>&1; then
    setup_compose
    compose down -v --remove-orphans --timeout 10
    if [[ "$images_mode" == standin ]]; then
      docker rmi "steadylog-standin/otelcol:$standin_tag" "steadylog-standin/prometheus:$standin_tag" \
        "steadylog-standin/loadgen:$standin_tag" >/dev/null 2>&1 || true
    fi
  else
    log "no Docker engine answers: nothing to take down"
  fi
  if [[ -n "${DEMO_DOCKERD_PID:-}" ]] && kill -0 "$DEMO_DOCKERD_PID" 2>/dev/null; then
    log "stopping the dockerd it started (pid $DEMO_DOCKERD_PID)"
    kill -TERM "$DEMO_DOCKERD_PID"
    for _ in $(seq 1 150); do
      kill -0 "$DEMO_DOCKERD_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$DEMO_DOCKERD_PID" 2>/dev/null && die "dockerd (pid $DEMO_DOCKERD_PID) did not stop"
    # Mounts a stopped engine may leave under its data root.
    grep -o " $state/engine/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || true
    done
  fi
  rm -rf "$state"
}

cmd_service() { # stop|start otelcol
  load_state
  pick_compose
  setup_compose
  compose "$1" otelcol
}

cmd_status() {
  load_state
  pick_compose
  setup_compose
  compose ps
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  stop-collector) cmd_service stop ;;
  start-collector) cmd_service start ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|stop-collector|start-collector|status" >&2; exit 2 ;;
esac
