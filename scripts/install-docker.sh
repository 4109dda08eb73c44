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

# shellcheck source=lib/apt-binary.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-binary.sh"
apt_binary install-docker docker.io "install a Docker engine (dockerd >= 20.10) yourself" \
  "$(command -v dockerd 2>/dev/null || true)" /usr/bin/dockerd /usr/sbin/dockerd /usr/local/bin/dockerd
