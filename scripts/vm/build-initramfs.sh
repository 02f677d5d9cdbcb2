#!/usr/bin/env bash
# Builds the test bed's initramfs: busybox-static, the guest kernel's modules the
# test bed needs (with their dependencies, from modules.dep), and scripts/vm/init.
#
#   scripts/vm/build-initramfs.sh [OUT_DIR]
#
# Prints the path of the image. OUT_DIR defaults to $LINERATE_VM_WORK or
# /tmp/linerate-vm; the image is rebuilt only when the kernel, busybox or init
# changed (its name carries a hash of them). Nothing here is committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${LINERATE_VM_WORK:-/tmp/linerate-vm}}
mkdir -p "$out"

# The guest kernel: the newest Debian amd64 kernel that has its modules installed.
kver=${LINERATE_VM_KERNEL_VERSION:-}
if [[ -z $kver ]]; then
  for k in $(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V); do
    [[ -d /lib/modules/$k/kernel ]] && kver=$k
  done
fi
if [[ -z $kver || ! -r /boot/vmlinuz-$kver ]]; then
  echo "build-initramfs: no guest kernel; run scripts/vm/install.sh (apt-get install linux-image-amd64)" >&2
  exit 1
fi
[[ -x /bin/busybox ]] || { echo "build-initramfs: no /bin/busybox; apt-get install busybox-static" >&2; exit 1; }

# Modules the guest loads (init loads them in this order). virtio_pci: the 9p
# transport and the virtio-net NICs; 9pnet_virtio + 9p: the host's root and the
# control export; vfio-pci (+ type1): the point of it all; e1000e and virtio_net:
# the NICs start bound to their kernel drivers, as on a real host, and
# `linerate bind` takes them over.
modules=(virtio_pci 9pnet_virtio 9p vfio vfio_iommu_type1 vfio-pci e1000e virtio_net)

hash=$( { echo "$kver"; sha256sum /bin/busybox "$here/init" "$0"; echo "${modules[*]}"; } | sha256sum | cut -c1-12)
img="$out/initramfs-$kver-$hash.cpio.gz"
if [[ -s $img ]]; then
  echo "$img"
  exit 0
fi

stage=$(mktemp -d "$out/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,host,ctl,tmp,lib/modules/$kver}
cp /bin/busybox "$stage/bin/busybox"
cp "$here/init" "$stage/init"
chmod 755 "$stage/init"

# Resolve module names to files and their dependency closure through modules.dep
# ("kernel/path/mod.ko: kernel/dep1.ko kernel/dep2.ko").
moddir=/lib/modules/$kver
declare -A want=()
resolve() {
  local name=$1 file line dep
  # modules.dep names files with '-' or '_' as built; match both spellings.
  local pat=${name//[-_]/[-_]}
  line=$(grep -E "/${pat}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1 || true)
  if [[ -z $line ]]; then
    if grep -qE "/${pat}\.ko" "$moddir/modules.builtin" 2>/dev/null; then return 0; fi
    echo "build-initramfs: module $name not found in $moddir" >&2
    exit 1
  fi
  file=${line%%:*}
  [[ -n ${want[$file]:-} ]] && return 0
  want[$file]=1
  for dep in ${line#*:}; do
    [[ -n ${want[$dep]:-} ]] && continue
    local base=${dep##*/}
    resolve "${base%%.ko*}"
  done
}
for m in "${modules[@]}"; do resolve "$m"; done
for f in "${!want[@]}"; do
  mkdir -p "$stage/lib/modules/$kver/$(dirname "$f")"
  cp "$moddir/$f" "$stage/lib/modules/$kver/$f"
done
# busybox modprobe reads modules.dep (and the alias and builtin lists).
cp "$moddir"/modules.{dep,alias,builtin,softdep,order} "$stage/lib/modules/$kver/" 2>/dev/null || true
printf '%s\n' "${modules[@]}" >"$stage/modules"

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$img.tmp"
mv "$img.tmp" "$img"
# Older images of this work dir are stale now.
find "$out" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "$(basename "$img")" -delete
echo "$img"
