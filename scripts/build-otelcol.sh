#!/usr/bin/env bash
# Builds the OpenTelemetry Collector distribution in integration/otelcol (a separate
# Go module: the collector pins older otel libraries than steadylog) and caches the
# binary, keyed by a hash of the module's sources and the Go toolchain, so a warm run
# costs nothing and a cold one a few minutes (module download + compile).
#
# Needs only Go and the module proxy; the generated sources are committed, so the
# collector builder is not required. Prints the binary path as its last stdout line:
#
#   STEADYLOG_OTELCOL_BIN=$(scripts/build-otelcol.sh | tail -1)
#
# Environment:
#   STEADYLOG_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/steadylog)
#   STEADYLOG_OTELCOL_REBUILD=1   ignore a cached binary and build again
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$repo_root/integration/otelcol"
name=otelcol-steadylog

command -v go >/dev/null 2>&1 || { echo "build-otelcol: go is not on PATH" >&2; exit 1; }
[[ -f "$src/go.mod" ]] || { echo "build-otelcol: $src/go.mod not found" >&2; exit 1; }

# Hash everything that determines the binary: module files, Go sources (sorted by
# name so the key is stable), the toolchain and the target platform.
hash=$(
  cd "$src"
  export GOWORK=off
  {
    go version
    go env GOOS GOARCH
    for f in go.mod go.sum $(find . -name '*.go' -type f | LC_ALL=C sort); do
      printf '%s\n' "$f"
      cat "$f"
    done
  } | sha256sum | cut -c1-16
)

cache_root=${STEADYLOG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/steadylog}
out_dir="$cache_root/otelcol/$hash"
bin="$out_dir/$name"

if [[ -x "$bin" && "${STEADYLOG_OTELCOL_REBUILD:-0}" != 1 ]]; then
  echo "build-otelcol: cached ($hash)" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$out_dir"
echo "build-otelcol: building $name ($hash); a cold build downloads ~900 MB of modules and takes a few minutes" >&2
start=$(date +%s)
tmp="$out_dir/.$name.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# -mod=readonly: the committed go.sum is authoritative; a missing entry is an error,
# never a silent upgrade. Build into a temp name and rename so that an interrupted
# build never leaves a half-written binary that a later run would trust.
# GOWORK=off: the module is not in the repository's go.work (whose versions
# would override its pins), so it builds alone.
(cd "$src" && CGO_ENABLED=0 GOWORK=off go build -mod=readonly -trimpath -o "$tmp" .)
mv -f "$tmp" "$bin"
echo "build-otelcol: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
