#!/usr/bin/env bash
# Installs Debian's `prometheus` package when no prometheus binary is available, and
# prints the binary path as its last stdout line:
#
#   STEADYLOG_PROMETHEUS_BIN=$(scripts/install-prometheus.sh | tail -1)
#
# It never starts a service: the end-to-end tests run the binary themselves on a free
# loopback port with a throw-away storage directory. Debian's package does not start
# one either, but policy-rc.d is used to make sure, should a future package try.
# Installing needs root (or passwordless sudo) and apt; otherwise it fails with a
# message saying what to do instead.
set -euo pipefail

find_bin() {
  local p
  for p in "$(command -v prometheus 2>/dev/null || true)" /usr/bin/prometheus /usr/local/bin/prometheus; do
    if [[ -n "$p" && -x "$p" ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if bin=$(find_bin); then
  echo "install-prometheus: found $bin" >&2
  echo "$bin"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus: no prometheus binary and no apt-get; install Prometheus (>= 2.42) and set STEADYLOG_PROMETHEUS_BIN" >&2
  exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "install-prometheus: installing the prometheus package needs root; run as root, or install it yourself and set STEADYLOG_PROMETHEUS_BIN" >&2
    exit 1
  fi
fi

# Forbid service starts during the install (exit code 101 = "action forbidden"),
# restoring any policy-rc.d that was there before.
policy=/usr/sbin/policy-rc.d
backup=""
if [[ -e $policy ]]; then
  backup=$(mktemp)
  "${sudo[@]}" cp -p "$policy" "$backup"
fi
restore_policy() {
  if [[ -n $backup ]]; then
    "${sudo[@]}" mv -f "$backup" "$policy"
  else
    "${sudo[@]}" rm -f "$policy"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
"${sudo[@]}" chmod 0755 "$policy"

export DEBIAN_FRONTEND=noninteractive
echo "install-prometheus: apt-get update" >&2
"${sudo[@]}" apt-get update -qq >&2 || { echo "install-prometheus: apt-get update failed" >&2; exit 1; }
echo "install-prometheus: apt-get install prometheus" >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >&2 ||
  { echo "install-prometheus: apt-get install prometheus failed; install Prometheus yourself and set STEADYLOG_PROMETHEUS_BIN" >&2; exit 1; }

if ! bin=$(find_bin); then
  echo "install-prometheus: package installed but no prometheus binary found" >&2
  exit 1
fi
echo "$bin"
