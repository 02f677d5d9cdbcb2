#!/usr/bin/env bash
# Installs DPDK's testpmd, the reference bench/fwd compares linerate with.
#
# Package names (checked with apt-cache / dpkg -c on Debian 12 bookworm, DPDK 22.11):
#   dpdk      the runtime: only dpdk-devbind.py, dpdk-hugepages.py, a systemd unit; NO testpmd
#   dpdk-dev  the "dev tools": /usr/bin/dpdk-testpmd, dpdk-test, dpdk-proc-info, ...; it Depends
#             on the PMDs the benchmark needs (librte-net-null23, librte-mempool-ring23)
# so this installs dpdk-dev (the same holds on Ubuntu 22.04+).
#
# Idempotent: does nothing when dpdk-testpmd is on PATH already. Runs
# `apt-get update` only when apt does not know the package yet (a fresh
# container has empty package lists). Needs root (or sudo) for apt-get.
#
# Usage: scripts/install-dpdk.sh            (then: node dist/bench/fwd.js)
set -euo pipefail

say() { echo "install-dpdk: $*"; }

if command -v dpdk-testpmd >/dev/null 2>&1; then
  say "dpdk-testpmd is installed already: $(command -v dpdk-testpmd) (package dpdk-dev $(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null || echo '?')); nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "dpdk-testpmd is missing and this host has no apt-get; install DPDK (>= 22.11) by hand, e.g. dnf install -y dpdk / dpdk-tools" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    say "need root to run apt-get (rerun as root or install sudo)" >&2
    exit 1
  fi
fi

PKG=dpdk-dev

# Does apt know a candidate for the package? ("Candidate: (none)" or no
# output at all means the lists are empty or stale.)
have_candidate() {
  local c
  c=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

if have_candidate; then
  say "apt knows package $PKG (candidate $(apt-cache policy "$PKG" | awk '/Candidate:/ {print $2}')); skipping apt-get update"
else
  say "apt has no candidate for package $PKG: running apt-get update"
  $SUDO apt-get update
  if ! have_candidate; then
    say "no package named $PKG in this system's apt sources; on Debian it is in main (bookworm: DPDK 22.11)" >&2
    exit 1
  fi
fi

say "installing package $PKG (apt-get install -y --no-install-recommends $PKG)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$PKG"

if ! command -v dpdk-testpmd >/dev/null 2>&1; then
  say "package $PKG is installed but dpdk-testpmd is not on PATH; look in: dpkg -L $PKG | grep testpmd" >&2
  exit 1
fi
say "installed $(command -v dpdk-testpmd) (package dpdk-dev $(dpkg-query -W -f='${Version}' dpdk-dev))"
