#!/usr/bin/env bash
# Installs Debian's `docker.io` package (dockerd, containerd, runc; ~1 min) when no
# dockerd is available, and prints dockerd's path as its last stdout line. Idempotent:
# with dockerd on PATH it only prints the path.
#
#   scripts/install-docker.sh
#
# It never starts the engine: the end-to-end test that runs the compose stack
# (integration/compose_test.go) starts its own dockerd (no bridge, no iptables, its
# own socket and data directories) unless one already serves /var/run/docker.sock,
# and stops the one it started. policy-rc.d keeps the package's service from being
# started during the install. docker-compose (Debian's 1.29) is installed by
# scripts/test. Installing needs root (or passwordless sudo) and apt.
set -euo pipefail

find_bin() {
  local p
  for p in "$(command -v dockerd 2>/dev/null || true)" /usr/bin/dockerd /usr/sbin/dockerd /usr/local/bin/dockerd; do
    if [[ -n "$p" && -x "$p" ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if bin=$(find_bin); then
  echo "install-docker: found $bin" >&2
  echo "$bin"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-docker: no dockerd and no apt-get; install a Docker engine (dockerd >= 20.10) yourself" >&2
  exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "install-docker: installing the docker.io package needs root; run as root, or install Docker yourself" >&2
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
echo "install-docker: apt-get update" >&2
"${sudo[@]}" apt-get update -qq >&2 || { echo "install-docker: apt-get update failed" >&2; exit 1; }
echo "install-docker: apt-get install docker.io" >&2
start=$(date +%s)
"${sudo[@]}" apt-get install -y -qq --no-install-recommends docker.io >&2 ||
  { echo "install-docker: apt-get install docker.io failed; install Docker yourself" >&2; exit 1; }
echo "install-docker: installed in $(( $(date +%s) - start ))s" >&2

if ! bin=$(find_bin); then
  echo "install-docker: package installed but no dockerd found" >&2
  exit 1
fi
echo "$bin"
