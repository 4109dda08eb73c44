# shellcheck shell=bash
# Sourced by the install-*.sh scripts: finds a binary, or installs the Debian package
# that provides it without letting the package start a service, and prints the
# binary's path as the last stdout line.
#
#   apt_binary NAME PACKAGE HINT CANDIDATE...
#
# NAME is the script's name for messages, PACKAGE the Debian package, HINT what to do
# when installing is impossible, CANDIDATE the paths to look at (an empty one is
# skipped), in order. It exits the script: 0 with the path printed, 1 with a message.
# Installing needs root (or passwordless sudo) and apt.

apt_binary_find() {
  local p
  for p in "$@"; do
    if [[ -n "$p" && -x "$p" ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

apt_binary() {
  local name=$1 pkg=$2 hint=$3
  shift 3
  local bin
  if bin=$(apt_binary_find "$@"); then
    echo "$name: found $bin" >&2
    echo "$bin"
    exit 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: no $pkg binary and no apt-get; $hint" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "$name: installing the $pkg package needs root; run as root, or $hint" >&2
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
  trap apt_binary_restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 0755 "$policy"

  export DEBIAN_FRONTEND=noninteractive
  echo "$name: apt-get update" >&2
  "${sudo[@]}" apt-get update -qq >&2 || { echo "$name: apt-get update failed" >&2; exit 1; }
  echo "$name: apt-get install $pkg" >&2
  local start
  start=$(date +%s)
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >&2 ||
    { echo "$name: apt-get install $pkg failed; $hint" >&2; exit 1; }
  echo "$name: installed in $(( $(date +%s) - start ))s" >&2

  if ! bin=$(apt_binary_find "$@"); then
    echo "$name: package $pkg installed but no binary found" >&2
    exit 1
  fi
  echo "$bin"
  exit 0
}

apt_binary_restore_policy() {
  if [[ -n $backup ]]; then
    "${sudo[@]}" mv -f "$backup" "$policy"
  else
    "${sudo[@]}" rm -f "$policy"
  fi
}
