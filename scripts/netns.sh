#!/usr/bin/env bash
# Test bed for the kernel-facing drivers (af_packet, af_xdp, tap): two network
# namespaces joined by a veth pair. Nothing here touches the host namespace: the
# veth pair is created inside namespace A with its peer placed straight into B.
#
#   scripts/netns.sh up <name> [--queues N] [--no-addr-b | --isolate-b] [--mtu N]
#       namespaces <name>-a and <name>-b, veth "lrt-a" in A and "lrt-b" in B,
#       N rx/tx queues on each end (default 1), links and lo up.
#       A: 198.18.0.1/24, fd00:198:18::1/64   B: 198.18.0.2/24, fd00:198:18::2/64
#       --no-addr-b leaves B's end without addresses (linerate owns it).
#       --isolate-b also keeps B's kernel stack off B's end (implies --no-addr-b):
#         arp_ignore=8 (no ARP replies there), rp_filter=1 (IPv4 whose source
#         routes elsewhere, e.g. via a TAP exception device, is dropped) and
#         disable_ipv6=1. Packet sockets still see every frame: with af_packet
#         the kernel gets a copy of the wire, and this is how it ignores it.
#       Prints one line: nsA nsB ifA ifB macA macB
#   scripts/netns.sh down <name>      removes both namespaces (and so the veth)
#   scripts/netns.sh cleanup          removes every namespace named lrt-*
#
# Names must start with "lrt-" so that `cleanup` finds leftovers of a failed run.
# Addresses come from 198.18.0.0/15 (RFC 2544) and fd00:198:18::/48 only.
set -euo pipefail

IF_A=lrt-a
IF_B=lrt-b

die() { echo "netns.sh: $*" >&2; exit 2; }
check_name() {
  [[ $1 =~ ^lrt-[A-Za-z0-9_.-]+$ ]] || die "name '$1' must match lrt-[A-Za-z0-9_.-]+"
  (( ${#1} <= 60 )) || die "name '$1' is too long"
}
mac_of() { ip -n "$1" link show dev "$2" | awk '/link\/ether/ {print $2; exit}'; }

ns_del() {
  ip netns del "$1" 2>/dev/null || true
  # ip netns del unmounts; make sure the name is gone even if the mount lingered.
  [[ -e /var/run/netns/$1 ]] && { umount "/var/run/netns/$1" 2>/dev/null || true; rm -f "/var/run/netns/$1"; }
  return 0
}

cmd_up() {
  local name=$1; shift
  check_name "$name"
  local queues=1 addr_b=1 isolate_b=0 mtu=""
  while (($#)); do
    case $1 in
      --queues) queues=${2:?}; shift 2 ;;
      --no-addr-b) addr_b=0; shift ;;
      --isolate-b) addr_b=0; isolate_b=1; shift ;;
      --mtu) mtu=${2:?}; shift 2 ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  [[ $queues =~ ^[0-9]+$ ]] && (( queues >= 1 && queues <= 64 )) || die "--queues must be in [1, 64]"
  local a=$name-a b=$name-b
  trap 'ns_del "$a"; ns_del "$b"' ERR
  ip netns add "$a"
  ip netns add "$b"
  ip -n "$a" link add "$IF_A" numtxqueues "$queues" numrxqueues "$queues" type veth \
    peer name "$IF_B" netns "$b" numtxqueues "$queues" numrxqueues "$queues"
  for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
    # No router solicitations or DAD delays: the tests want a quiet, ready wire.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
      net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 >/dev/null 2>&1 || true
  done
  if [[ -n $mtu ]]; then
    ip -n "$a" link set dev "$IF_A" mtu "$mtu"
    ip -n "$b" link set dev "$IF_B" mtu "$mtu"
  fi
  ip -n "$a" addr add 198.18.0.1/24 dev "$IF_A"
  ip -n "$a" addr add fd00:198:18::1/64 dev "$IF_A" nodad
  if (( addr_b )); then
    ip -n "$b" addr add 198.18.0.2/24 dev "$IF_B"
    ip -n "$b" addr add fd00:198:18::2/64 dev "$IF_B" nodad
  fi
  if (( isolate_b )); then
    ip netns exec "$b" sysctl -qw "net.ipv4.conf.$IF_B.arp_ignore=8" "net.ipv4.conf.$IF_B.rp_filter=1" \
      "net.ipv6.conf.$IF_B.disable_ipv6=1" >/dev/null
  fi
  ip -n "$a" link set "$IF_A" up
  ip -n "$b" link set "$IF_B" up
  trap - ERR
  echo "$a $b $IF_A $IF_B $(mac_of "$a" "$IF_A") $(mac_of "$b" "$IF_B")"
}

cmd_down() {
  check_name "$1"
  ns_del "$1-a"
  ns_del "$1-b"
}

cmd_cleanup() {
  local n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^lrt-' || true); do
    ns_del "$n"
  done
}

case ${1:-} in
  up) shift; [[ $# -ge 1 ]] || die "usage: up <name> [--queues N] [--no-addr-b | --isolate-b] [--mtu N]"; cmd_up "$@" ;;
  down) shift; [[ $# -eq 1 ]] || die "usage: down <name>"; cmd_down "$1" ;;
  cleanup) cmd_cleanup ;;
  *) die "usage: netns.sh up <name> [--queues N] [--no-addr-b | --isolate-b] [--mtu N] | down <name> | cleanup" ;;
esac
