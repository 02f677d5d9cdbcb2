#!/usr/bin/env node
// Writes the seed corpora of the libFuzzer harnesses (test/fuzz/corpus/<target>/):
// a few well-formed inputs per target, so the fuzzer starts inside each protocol
// rather than at random bytes. The files are committed; run this again after
// changing a harness's input format:  node test/fuzz/make-seeds.mjs
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const B = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const u16 = (v) => Buffer.from([v >> 8, v & 0xff]);

// Addresses of host_bed.h: the host 198.18.0.1 / fd00:198:18::1 on 02:4c:52:00:00:01.
const hostMac = [0x02, 0x4c, 0x52, 0, 0, 1];
const peerMac = [0x02, 0, 0, 0, 0, 2];
const bcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const ip4 = [198, 18, 0, 1], peer4 = [198, 18, 0, 2];
const ip6 = [0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const peer6 = [...ip6.slice(0, 15), 2];
const solicited6 = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1];

const eth = (dst, type, vlan = 0) => B(dst, peerMac, vlan ? B(u16(0x8100), u16(vlan)) : [], u16(type));
// Checksums are left zero: the host harness fixes them (its bit 7), the others do not look.
const ipv4 = (proto, payload, src = peer4, dst = ip4) =>
  B([0x45, 0], u16(20 + payload.length), [0, 0, 0x40, 0, 64, proto, 0, 0], src, dst, payload);
const ipv6 = (next, payload, src = peer6, dst = ip6, hops = 64) =>
  B([0x60, 0, 0, 0], u16(payload.length), [next, hops], src, dst, payload);
const udp = (sport, dport, data) => B(u16(sport), u16(dport), u16(8 + data.length), [0, 0], data);
const dnsQuery = Buffer.from('12340100000100000000000003777777076578616d706c6503636f6d0000010001', 'hex');
const arp = (op, sha, spa, tha, tpa) => B(u16(1), u16(0x0800), [6, 4], u16(op), sha, spa, tha, tpa);
const icmpEcho = (type) => B([type, 0, 0, 0, 0x12, 0x34, 0, 1], Buffer.from('linerate-ping-seed'));
const nd = (type, target, optType) => B([type, 0, 0, 0], type === 136 ? [0x60, 0, 0, 0] : [0, 0, 0, 0], target, [optType, 1], peerMac);

const frames = {
  arpRequest: B(eth(bcast, 0x0806), arp(1, peerMac, peer4, [0, 0, 0, 0, 0, 0], ip4)),
  arpReply: B(eth(hostMac, 0x0806), arp(2, peerMac, peer4, hostMac, ip4)),
  echo4: B(eth(hostMac, 0x0800), ipv4(1, icmpEcho(8))),
  udp4: B(eth(hostMac, 0x0800), ipv4(17, udp(40000, 53, dnsQuery))),
  udp4Closed: B(eth(hostMac, 0x0800), ipv4(17, udp(40000, 9, Buffer.from('nobody')))),
  udp4Vlan: B(eth(hostMac, 0x0800, 5), ipv4(17, udp(40000, 7, Buffer.from('echo me')))),
  ns: B(eth([0x33, 0x33, 0xff, 0, 0, 1], 0x86dd), ipv6(58, nd(135, ip6, 1), peer6, solicited6, 255)),
  na: B(eth(hostMac, 0x86dd), ipv6(58, nd(136, peer6, 2), peer6, ip6, 255)),
  echo6: B(eth(hostMac, 0x86dd), ipv6(58, icmpEcho(128))),
  udp6: B(eth(hostMac, 0x86dd), ipv6(17, udp(40000, 53, dnsQuery))),
  tcp4: B(eth(hostMac, 0x0800), ipv4(6, B(u16(40000), u16(80), Buffer.alloc(16)))),
};

function pcap({ swapped = false, nano = false, records }) {
  const w32 = (v) => { const b = Buffer.alloc(4); swapped ? b.writeUInt32BE(v) : b.writeUInt32LE(v); return b; };
  const w16 = (v) => { const b = Buffer.alloc(2); swapped ? b.writeUInt16BE(v) : b.writeUInt16LE(v); return b; };
  const head = B(w32(nano ? 0xa1b23c4d : 0xa1b2c3d4), w16(2), w16(4), w32(0), w32(0), w32(65535), w32(1));
  return B(head, ...records.map((r, i) => B(w32(1700000000 + i), w32(i * 1000), w32(r.length), w32(r.length), r)));
}

// One cBPF instruction as the kernel's struct sock_filter, little-endian.
function insn(code, jt, jf, k) {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b[2] = jt;
  b[3] = jf;
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}

const seeds = {
  pcap_reader: {
    two: pcap({ records: [frames.udp4, frames.arpRequest] }),
    swappedNano: pcap({ swapped: true, nano: true, records: [frames.udp6] }),
    truncated: pcap({ records: [frames.echo4] }).subarray(0, 60),
    empty: pcap({ records: [] }),
  },
  // 9 bytes choosing the match (frame_fuzz.cc), then the frame.
  frame: Object.fromEntries(
    ['udp4', 'udp6', 'udp4Vlan', 'tcp4', 'arpRequest', 'echo4'].map((k, i) => [k, B([0x1f & (i * 7 + 3), 0, 53, i & 3, 17, 0, 80, 0, 53], frames[k])]),
  ),
  // Configuration byte (host_bed.h: bit 0 IPv4, 1 IPv6, 2 owner kernel, 3 VLAN 5,
  // 4 ICMP unreachable, 5 exception path, 7 fix checksums), then length-prefixed frames.
  host_input: {
    arp: B([0x81], u16(frames.arpRequest.length), frames.arpRequest, u16(frames.arpReply.length), frames.arpReply),
    echo4: B([0x81], u16(frames.echo4.length), frames.echo4),
    udp4: B([0x81], u16(frames.udp4.length), frames.udp4, u16(frames.udp4.length), frames.udp4),
    unreachable: B([0x91], u16(frames.udp4Closed.length), frames.udp4Closed),
    vlan: B([0x89], u16(frames.udp4Vlan.length), frames.udp4Vlan),
    nd: B([0x83], u16(frames.ns.length), frames.ns, u16(frames.na.length), frames.na),
    echo6: B([0x83], u16(frames.echo6.length), frames.echo6),
    udp6: B([0x93], u16(frames.udp6.length), frames.udp6),
    kernel: B([0xa7], u16(frames.arpRequest.length), frames.arpRequest, u16(frames.na.length), frames.na, u16(frames.tcp4.length), frames.tcp4),
  },
  // Configuration byte, call (0 reply, 1 send), header bytes 44..47 (family,
  // l3_off, socket LE), data_len, data_off delta, then the packet.
  host_output: {
    reply4: B([0x01, 0, 4, 14, 0, 0], u16(frames.udp4.length), [0], frames.udp4),
    send4: B([0x01, 1, 4, 14, 1, 0], u16(frames.udp4.length), [0], frames.udp4),
    sendPeer: B([0x01, 1, 4, 14, 0, 0], u16(frames.udp4.length), [0], frames.udp4.map((v, i) => (i === 33 ? 2 : i === 29 ? 1 : v))),
    reply6: B([0x03, 0, 6, 14, 0, 0], u16(frames.udp6.length), [0], frames.udp6),
    send6: B([0x03, 1, 6, 14, 0, 0], u16(frames.udp6.length), [0], frames.udp6),
    vlan: B([0x09, 0, 4, 18, 1, 0], u16(frames.udp4Vlan.length), [0], frames.udp4Vlan),
  },
  // cBPF programs (cbpf_fuzz.cc): (count - 1), 8-byte instructions, the packet; or 0x80 and --bpf text.
  cbpf: {
    ipv4: B([3], insn(0x28, 0, 0, 12), insn(0x15, 0, 1, 0x800), insn(0x06, 0, 0, 262144), insn(0x06, 0, 0, 0), frames.udp4),
    udpPort: B(
      [7],
      insn(0x28, 0, 0, 12), insn(0x15, 0, 5, 0x800), insn(0x30, 0, 0, 23), insn(0x15, 0, 3, 17),
      insn(0xb1, 0, 0, 14), insn(0x48, 0, 0, 16), insn(0x15, 0, 1, 53), insn(0x06, 0, 0, 65535), frames.udp4,
    ),
    text: B([0x80], Buffer.from('4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n')),
  },
  // The wanted option type, then ND options (RFC 4861 section 4.6).
  nd_lladdr: {
    source: B([1, 1, 1], peerMac),
    target: B([2, 1, 1], peerMac, [2, 1], hostMac),
    long: B([1, 3, 2], Buffer.alloc(14), [1, 1], peerMac),
  },
};

for (const [target, files] of Object.entries(seeds)) {
  const dir = join(here, 'corpus', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  console.log(`${target}: ${Object.keys(files).length} seeds`);
}
