#!/usr/bin/env bash
# Installs trafgen (Debian/Ubuntu package netsniff-ng), the second generator of bench/kernel. As root.
set -euo pipefail
command -v trafgen >/dev/null && { echo "trafgen: $(command -v trafgen)"; exit 0; }
apt-get install -y netsniff-ng
command -v trafgen
