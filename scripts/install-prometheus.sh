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

# shellcheck source=lib/apt-binary.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-binary.sh"
apt_binary install-prometheus prometheus "install Prometheus (>= 2.42) yourself and set STEADYLOG_PROMETHEUS_BIN" \
  "$(command -v prometheus 2>/dev/null || true)" /usr/bin/prometheus /usr/local/bin/prometheus
