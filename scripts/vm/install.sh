#!/usr/bin/env bash
# Installs what the QEMU test bed needs, from Debian's packages, when missing:
#   qemu-system-x86 (QEMU 7.2, TCG here), linux-image-amd64 (the guest kernel and
#   its modules under /lib/modules/<version>), busybox-static (the initramfs).
# Idempotent: does nothing when everything is there. Run as root.
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == 'install ok installed' ]]; }
installed busybox-static || need+=(busybox-static)
# Any Debian amd64 kernel with its modules will do.
if ! ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || ! ls -d /lib/modules/*-amd64/kernel >/dev/null 2>&1; then
  need+=(linux-image-amd64)
fi

if ((${#need[@]} == 0)); then
  echo "vm: qemu, guest kernel and busybox-static present"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "vm: missing ${need[*]}; install them as root: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "vm: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# --no-install-recommends keeps qemu from pulling in a desktop; the kernel's
# initramfs-tools hook runs once and is not used by the test bed.
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "vm: installed ${need[*]}"
