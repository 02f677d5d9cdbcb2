#!/usr/bin/env bash
# Boots the QEMU test bed (TCG, q35 with an emulated Intel IOMMU) and runs one
# command inside it, chrooted into this host's root (shared read-only over 9p),
# in the current directory. Returns the command's exit code.
#
#   scripts/vm/run.sh [--timeout SECONDS] [--out DIR] [--keep] [--env NAME=VALUE]... [--] COMMAND [ARG...]
#
# The guest's NICs (guest PCI address: model, backend):
#   0000:00:03.0  e1000e (82574L)             socket listen 127.0.0.1:10001  <-+ a wire
#   0000:00:05.0  virtio-net-pci, 1 pair      socket connect 127.0.0.1:10001 <-+
#   0000:00:04.0  virtio-net-pci, 4 pairs, mq TAP lrtap0 in a host namespace: the kernel peer
# Both virtio NICs have iommu_platform=on (their DMA goes through the IOMMU, as
# vfio needs). The host side of the TAP is 198.18.0.1/24 and fd00:198:18::1/64,
# MAC 02:4c:52:ff:00:01;
# the guest's vfio port on 00:04.0 plays 198.18.0.2 (MAC 52:54:00:4c:52:02),
# which the host namespace knows as a permanent neighbour. When
# scripts/vm/peer.mjs exists it runs in that namespace (UDP echo on :7, a
# traffic generator on :9000) with its log in the run directory.
#
# Everything runs in a network namespace made here (so the socket backends'
# loopback is private), under a work dir in /tmp ($LINERATE_VM_WORK, default
# /tmp/linerate-vm: the initramfs is cached there). On exit, timeout or signal,
# qemu and the peer are killed by PID, the namespace (and its TAP) deleted and
# the run directory removed (unless --keep). --out DIR receives boot, output,
# exit, serial.log, peer.log and anything the guest wrote to /tmp/lrvm/results.
#
# Inside the guest: LINERATE_VM_GUEST=1, HOME=/tmp, the control directory is
# /tmp/lrvm (writable; results/ for reports), the repository is read-only.
#
# Exit codes: the command's; 124 timeout; 125 the guest did not boot or did not
# run the command; 126 setup failed on the host.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

timeout=${LINERATE_VM_TIMEOUT:-480}
out=""
keep=0
envs=()
while (($#)); do
  case $1 in
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 126 ;;
    *) break ;;
  esac
done
(($#)) || { sed -n '2,12p' "$0" >&2; exit 126; }
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (network namespace, TAP)" >&2; exit 126; }

log() { printf 'vm: %s\n' "$*" >&2; }

"$here/install.sh" >&2 || exit 126
work=${LINERATE_VM_WORK:-/tmp/linerate-vm}
mkdir -p "$work"
img=$("$here/build-initramfs.sh" "$work") || { log "initramfs build failed"; exit 126; }
kver=$(basename "$img" | sed -E 's/^initramfs-(.*)-[0-9a-f]{12}\.cpio\.gz$/\1/')
kernel=/boot/vmlinuz-$kver
# Boot the uncompressed ELF through PVH when we can: under TCG, xz-decompressing
# the bzImage (and SeaBIOS) cost ~15 s of a ~35 s boot. Cached in the work dir.
vmlinux=$work/vmlinux-$kver
if [[ ! -s $vmlinux ]]; then
  off=$(grep -abo $'\xfd7zXZ\x00' "$kernel" 2>/dev/null | head -n1 | cut -d: -f1)
  if [[ -n $off ]] && tail -c +$((off + 1)) "$kernel" | xz -dc >"$vmlinux.tmp" 2>/dev/null; [[ -s $vmlinux.tmp ]] &&
    head -c 4 "$vmlinux.tmp" | grep -q ELF; then
    mv "$vmlinux.tmp" "$vmlinux"
  else
    rm -f "$vmlinux.tmp"
  fi
fi
[[ -s $vmlinux ]] && kernel=$vmlinux
bios=()
[[ -s /usr/share/qemu/qboot.rom && $kernel == "$vmlinux" ]] && bios=(-bios /usr/share/qemu/qboot.rom)

run=$(mktemp -d "$work/run.XXXXXX")
mkdir -p "$run/ctl/results"
ns=lrvm-$$-$RANDOM
qpid="" ppid_peer="" started=$(date +%s.%N)

cleanup() {
  local code=$?
  trap - EXIT INT TERM HUP
  if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
    kill -TERM "$qpid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qpid" 2>/dev/null
    wait "$qpid" 2>/dev/null
  fi
  if [[ -n $ppid_peer ]] && kill -0 "$ppid_peer" 2>/dev/null; then
    kill -TERM "$ppid_peer" 2>/dev/null
    wait "$ppid_peer" 2>/dev/null
  fi
  ip netns del "$ns" 2>/dev/null
  if [[ -n $out ]]; then
    mkdir -p "$out"
    cp -r "$run/ctl/." "$out/" 2>/dev/null
    cp "$run/serial.log" "$out/" 2>/dev/null
    cp "$run/peer.log" "$out/" 2>/dev/null
  fi
  if ((keep)); then log "kept $run"; else rm -rf "$run"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# The command file the guest's init runs in the chroot.
{
  echo "cd $(printf %q "$PWD") || exit 125"
  echo "export PATH=$(printf %q "$PATH") HOME=/tmp LINERATE_VM_GUEST=1 CI=${CI:-} TERM=dumb NO_COLOR=1"
  for e in "${envs[@]}"; do echo "export $(printf %q "$e")"; done
  printf 'exec'
  printf ' %q' "$@"
  echo
} >"$run/ctl/cmd"
# The guest's watchdog fires a little before our timeout, so its report makes it out.
echo $((timeout > 90 ? timeout - 45 : timeout * 2 / 3)) >"$run/ctl/limit"

# The host side: a namespace with loopback and a multiqueue TAP.
ip netns add "$ns" || { log "cannot create network namespace $ns"; exit 126; }
nsx() { ip netns exec "$ns" "$@"; }
nsx ip link set lo up
nsx ip tuntap add dev lrtap0 mode tap multi_queue || { log "cannot create the TAP device"; exit 126; }
nsx ip link set lrtap0 address 02:4c:52:ff:00:01
nsx ip addr add 198.18.0.1/24 dev lrtap0
nsx ip -6 addr add fd00:198:18::1/64 dev lrtap0 nodad
nsx ip link set lrtap0 up
nsx ip neigh replace 198.18.0.2 lladdr 52:54:00:4c:52:02 dev lrtap0 nud permanent
nsx ip -6 neigh replace fd00:198:18::2 lladdr 52:54:00:4c:52:02 dev lrtap0 nud permanent

if [[ -f $here/peer.mjs ]]; then
  ip netns exec "$ns" node "$here/peer.mjs" >"$run/peer.log" 2>&1 &
  ppid_peer=$!
fi

cmdline="console=ttyS0 intel_iommu=on iommu=pt hugepages=${LINERATE_VM_HUGEPAGES:-128} panic=-1 quiet loglevel=3 no_timer_check"
# Not through nsx (a function: & would fork a subshell): $! must be qemu itself
# (ip netns exec execs it), so that it can be killed by PID.
launch() {
  rm -f "$run/ctl/boot" "$run/ctl/exit" "$run/ctl/output"
  # Under TCG the guest takes whole host cores. Not niced by default: a niced
  # guest starves behind a parallel test file's busy-polling lcores and times
  # out; LINERATE_VM_NICE=<n> trades the guest's speed for the rest of the host.
  ip netns exec "$ns" nice -n "${LINERATE_VM_NICE:-0}" qemu-system-x86_64 "${bios[@]}" \
    -M q35,kernel-irqchip=split -accel tcg,thread=multi -cpu max -smp 2 -m "${LINERATE_VM_MEMORY:-1536}" \
    -device intel-iommu,intremap=on,caching-mode=on,aw-bits=48 \
    -kernel "$kernel" -initrd "$img" -append "$cmdline" \
    -nodefaults -vga none -display none -monitor none -serial "file:$run/serial.log" -no-reboot \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,addr=0x10 \
    -fsdev local,id=ctl,path="$run/ctl",security_model=none \
    -device virtio-9p-pci,fsdev=ctl,mount_tag=ctl,addr=0x11 \
    -netdev socket,id=wire0,listen=127.0.0.1:10001 \
    -device e1000e,netdev=wire0,mac=52:54:00:4c:52:01,addr=0x3 \
    -netdev tap,id=host0,ifname=lrtap0,script=no,downscript=no,vhost=off,queues=4 \
    -device virtio-net-pci,netdev=host0,mac=52:54:00:4c:52:02,mq=on,vectors=10,rss=on,hash=on,iommu_platform=on,disable-legacy=on,addr=0x4 \
    -netdev socket,id=wire1,connect=127.0.0.1:10001 \
    -device virtio-net-pci,netdev=wire1,mac=52:54:00:4c:52:03,iommu_platform=on,disable-legacy=on,addr=0x5 \
    >"$run/qemu.log" 2>&1 &
  qpid=$!
  log "qemu pid $qpid (boot $1), namespace $ns, run dir $run, timeout ${timeout}s"
  # Stream the serial console (the guest command's output is on it) while waiting.
  : >"$run/serial.log"
  tail -n +1 -F --pid="$qpid" "$run/serial.log" >&2 2>/dev/null &
}

# A guest that has not reported its boot within boot_timeout seconds (an early
# kernel panic under an overloaded TCG, seen rarely) is booted once more.
boot_timeout=${LINERATE_VM_BOOT_TIMEOUT:-150}
deadline=$(($(date +%s) + timeout))
timed_out=0
for attempt in 1 2; do
  launch "$attempt"
  boot_deadline=$(($(date +%s) + boot_timeout))
  retry=0
  while kill -0 "$qpid" 2>/dev/null; do
    if (($(date +%s) >= deadline)); then timed_out=1; break; fi
    if [[ ! -s $run/ctl/boot ]] && (($(date +%s) >= boot_deadline)); then retry=1; break; fi
    sleep 0.5
  done
  if ((timed_out)); then
    log "timeout after ${timeout}s: killing qemu $qpid"
    kill -KILL "$qpid" 2>/dev/null
  fi
  if ((retry)); then
    log "no boot report after ${boot_timeout}s: killing qemu $qpid"
    kill -KILL "$qpid" 2>/dev/null
  fi
  wait "$qpid" 2>/dev/null
  qcode=$?
  qpid=""
  if ((timed_out)) || [[ -s $run/ctl/boot ]] || ((attempt == 2)); then break; fi
  log "the guest did not boot (qemu exit $qcode); serial log tail:"
  tail -n 20 "$run/serial.log" 2>/dev/null | sed 's/^/vm:   /' >&2
  log "booting again"
done
sleep 0.3  # let tail print the last lines
elapsed=$(echo "$(date +%s.%N) - $started" | bc 2>/dev/null || echo "?")

if [[ -s $run/qemu.log ]]; then log "qemu said:"; sed 's/^/vm:   /' "$run/qemu.log" >&2; fi
if [[ -s $run/ctl/boot ]]; then
  log "guest boot report: $(grep -E '^(modules|chroot|command)' "$run/ctl/boot" | tr '\n' ';')"
else
  log "the guest wrote no boot report (qemu exit $qcode); serial log tail:"
  tail -n 40 "$run/serial.log" 2>/dev/null | sed 's/^/vm:   /' >&2
fi
if ((timed_out)); then log "result: timeout after ${elapsed}s"; exit 124; fi
if [[ ! -s $run/ctl/exit ]]; then log "result: the guest did not run the command (${elapsed}s)"; exit 125; fi
code=$(cat "$run/ctl/exit")
log "result: guest command exited $code after ${elapsed}s"
exit "$code"
