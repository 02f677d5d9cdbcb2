/**
 * Test frames for the benches that put traffic on a veth (bench/kernel, bench/af_xdp):
 * Ethernet + IPv4 + UDP, 198.18.0.1:port -> 198.18.0.2:port (the benchmark range),
 * IPv4 header checksum set, UDP checksum 0 (none).
 */
import { setIpv4Checksum } from '../src/protocols/index.js';

export function udpFrame(len: number, srcMac: string, dstMac: string, port = 9): Uint8Array {
  const f = new Uint8Array(len);
  const mac = (s: string) => s.split(':').map((h) => parseInt(h, 16));
  f.set(mac(dstMac), 0);
  f.set(mac(srcMac), 6);
  f[12] = 0x08;
  const ip = 14;
  f[ip] = 0x45;
  const ipLen = len - 14;
  f[ip + 2] = ipLen >> 8;
  f[ip + 3] = ipLen & 0xff;
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  f.set([198, 18, 0, 1], ip + 12);
  f.set([198, 18, 0, 2], ip + 16);
  setIpv4Checksum(f, ip);
  const udp = ip + 20;
  f[udp] = port >> 8;
  f[udp + 1] = port & 0xff;
  f[udp + 2] = port >> 8;
  f[udp + 3] = port & 0xff;
  f[udp + 4] = (ipLen - 20) >> 8;
  f[udp + 5] = (ipLen - 20) & 0xff;
  return f;
}
