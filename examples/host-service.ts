/**
 * What the examples that serve UDP on the host layer (udp-echo, dns, bidder) share:
 * their flags (driver, interface, addresses, owner, port, workers, mode), the
 * checks on them, the port and host options they make, and their stats line a second.
 */
import type { HostOptions, PortOptions } from '../src/index.js';

/** The flags of a host-layer service, for parseFlags (examples/common.ts). */
export function hostServiceFlags(defaultPort: number) {
  return {
    driver: { type: 'string', default: 'null' },
    interface: { type: 'string' },
    netns: { type: 'string' },
    pci: { type: 'string' },
    queues: { type: 'string' },
    ipv4: { type: 'string' },
    ipv6: { type: 'string' },
    gateway4: { type: 'string' },
    gateway6: { type: 'string' },
    owner: { type: 'string', default: 'linerate' },
    port: { type: 'string', default: String(defaultPort) },
    workers: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'pipeline' },
    consume: { type: 'boolean', default: false },
  } as const;
}

export interface HostService {
  driver: string;
  udpPort: number;
  workers: number;
  queues: number;
  mode: 'pipeline' | 'inline';
  /** The port to serve on; `nullFrame` makes the null driver's self-test request (to our address and port). */
  portOptions(nullFrame: (dst: string, udpPort: number) => Uint8Array): PortOptions;
  hostOptions(): HostOptions;
}

/** Checks the flags (exits 2 with `usage` on a bad one) and returns what the service needs. */
export function hostService(values: Record<string, string | boolean | undefined>, usage: string): HostService {
  const fail = (msg: string): never => {
    console.error(`${msg}\n\n${usage}`);
    process.exit(2);
  };
  const udpPort = Number(values.port);
  const workers = Number(values.workers);
  const queues = Number(values.queues ?? (workers > 0 ? workers : 1));
  if (!Number.isInteger(udpPort) || udpPort < 1 || udpPort > 65535) fail('--port must be in 1..65535');
  if (!Number.isInteger(workers) || workers < 0) fail('--workers must be a whole number');
  if (workers > 0 && workers !== queues) fail('--workers N needs --queues N (one worker per rx queue)');
  const mode = String(values.mode);
  if (mode !== 'pipeline' && mode !== 'inline') fail("--mode must be 'pipeline' or 'inline'");
  if (mode === 'inline' && workers === 0) fail('--mode inline needs --workers N');
  if (values.owner !== 'kernel' && values.owner !== 'linerate') fail("--owner must be 'linerate' or 'kernel'");
  const driver = String(values.driver);
  return {
    driver,
    udpPort,
    workers,
    queues,
    mode: mode as 'pipeline' | 'inline',
    portOptions(nullFrame) {
      const kernel = { ...(values.netns ? { netns: String(values.netns) } : {}), rxQueues: queues };
      switch (driver) {
        case 'null': {
          const content = nullFrame(String(values.ipv4 ?? '198.18.0.2/24').split('/')[0], udpPort);
          return { driver: 'null', content, packetSize: content.length };
        }
        case 'af_xdp':
          if (!values.interface) fail('--driver af_xdp needs --interface');
          return { driver, interface: String(values.interface), ...kernel };
        case 'af_packet':
          if (!values.interface) fail('--driver af_packet needs --interface');
          return { driver, interface: String(values.interface), consume: Boolean(values.consume), ...kernel };
        case 'vfio':
          if (!values.pci) fail('--driver vfio needs --pci');
          return { driver, pci: String(values.pci), rxQueues: queues };
        default:
          return fail(`--driver must be null, af_xdp, af_packet or vfio, got '${driver}'`);
      }
    },
    hostOptions() {
      const o: HostOptions = { owner: values.owner === 'kernel' ? 'kernel' : 'linerate' };
      if (values.ipv4) o.ipv4 = String(values.ipv4);
      if (values.ipv6) o.ipv6 = String(values.ipv6);
      if (values.gateway4) o.gateway4 = String(values.gateway4);
      if (values.gateway6) o.gateway6 = String(values.gateway6);
      if (!o.ipv4 && !o.ipv6) o.ipv4 = '198.18.0.2/24';
      return o;
    },
  };
}

/**
 * Calls `line(elapsed, dt)` about once a second (elapsed: whole seconds since the start; dt: seconds since
 * the last call), and once more when `stopped()` turns true, until then or until `seconds` pass (0: no limit).
 */
export async function everySecond(seconds: number, stopped: () => boolean, line: (elapsed: number, dt: number) => void): Promise<void> {
  const t0 = Date.now();
  let at = t0;
  while (!stopped() && (seconds === 0 || Date.now() - t0 < seconds * 1000)) {
    await new Promise((r) => setTimeout(r, 200));
    const now = Date.now();
    if (now - at < 1000 && !stopped()) continue;
    line(Math.round((now - t0) / 1000), (now - at) / 1000);
    at = now;
  }
}
