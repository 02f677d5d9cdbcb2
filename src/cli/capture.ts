/**
 * `linerate capture`: the tcpdump/dumpcap equivalent from the command line.
 *
 * For now it runs its own engine on the interface (af_packet by default, which
 * leaves the kernel its copy of every frame); once the per-engine control socket
 * exists, `captureCommand` is what it registers to capture on a running engine.
 */
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Capture, type CaptureOptions, type CaptureStats } from '../capture/capture.js';
import { Engine } from '../engine.js';
import { LinerateError } from '../errors.js';
import type { PortOptions } from '../options.js';

export const CAPTURE_USAGE = `usage: linerate capture -i IF [--driver af_packet|af_xdp] [--netns NS] [--queues N] -w FILE|-
                        [-c COUNT] [-s SNAPLEN] [--seconds S] [--direction rx|tx|both] [--queue N] [--bpf "N,code jt jf k,..."]
                        [--ring-size N] [--cpu N] [FILTER EXPRESSION...]
       linerate capture --engine ENGINE -i PORT -w FILE|- [-c COUNT] [-s SNAPLEN] [--seconds S] [--direction D] [--queue N]
                        [--bpf ...] [--ring-size N] [FILTER EXPRESSION...]
  With --engine: captures on port PORT of a running engine (its pid or name, as
  \`linerate ls\` shows), through the engine's control socket.
  Captures frames of interface IF into a pcapng file (-w -: standard output, so
  \`linerate capture -i IF -w - | tshark -r -\` works). FILTER is a pcap-filter(7)
  expression, compiled by the host's libpcap (apt-get install libpcap0.8); --bpf
  takes raw classic BPF as \`tcpdump -ddd EXPR\` prints it instead. Ctrl-C ends the
  capture and completes the file. The filter runs in the data plane: only matching
  frames are copied; copies lost to a full capture ring are counted, never traffic.
  af_packet (the default) leaves the kernel its copy of every frame; promiscuous
  mode is never changed.`;

/** What the control socket's `capture` command takes (one capture on a running engine's port). */
export interface CaptureRequest extends Omit<CaptureOptions, 'file'> {
  /** The port's name. */
  port: string;
}

/**
 * Starts a capture on a port of a running engine, writing pcapng to `out` (a
 * control-socket client's connection, a file stream). The capture stops when
 * `out` closes, as well as on count/seconds/stop(). For the control socket
 * (src/control/) to register.
 * @throws LinerateError INVALID_PORT and every error of Engine.capture
 */
export function captureCommand(engine: Engine, request: CaptureRequest, out: Writable): Capture {
  const port = engine.port(request.port);
  if (!port) throw new LinerateError('INVALID_PORT', `capture: no port '${request.port}' in this engine (linerate stats lists them)`);
  const { port: _name, ...options } = request;
  const c = engine.capture(port, { ...options, file: out });
  const stop = () => void c.stop().catch(() => {}); // the outcome reaches callers through c.done
  out.once('close', stop);
  void c.done.finally(() => out.off('close', stop)).catch(() => {});
  return c;
}

function int(name: string, text: string | undefined, lo: number, hi: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < lo || v > hi) throw new LinerateError('INVALID_OPTION', `${name} must be an integer from ${lo} to ${hi}, got '${text}'`);
  return v;
}

export async function captureMain(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  let filterWords: string[];
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        interface: { type: 'string', short: 'i' }, driver: { type: 'string', default: 'af_packet' }, netns: { type: 'string' },
        queues: { type: 'string', default: '1' }, write: { type: 'string', short: 'w' }, count: { type: 'string', short: 'c' },
        snaplen: { type: 'string', short: 's' }, seconds: { type: 'string' }, direction: { type: 'string' }, queue: { type: 'string' },
        bpf: { type: 'string' }, 'ring-size': { type: 'string' }, cpu: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
        engine: { type: 'string' },
      },
    });
    v = parsed.values as Record<string, string | boolean | undefined>;
    filterWords = parsed.positionals;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${CAPTURE_USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(CAPTURE_USAGE);
    return 0;
  }
  if (!v.interface || !v.write) {
    console.error(`linerate capture: -i IF and -w FILE|- are required\n\n${CAPTURE_USAGE}`);
    return 2;
  }
  if (v.engine !== undefined) {
    try {
      const filter = filterWords.length ? filterWords.join(' ') : undefined;
      const args = {
        port: v.interface,
        ...(filter !== undefined ? { filter } : {}),
        ...(v.bpf !== undefined ? { bpf: v.bpf } : {}),
        direction: v.direction,
        queue: int('--queue', v.queue as string | undefined, 0, 65535),
        snaplen: int('-s', v.snaplen as string | undefined, 1, 262144),
        count: int('-c', v.count as string | undefined, 1, Number.MAX_SAFE_INTEGER),
        seconds: v.seconds !== undefined ? Number(v.seconds) : undefined,
        ringSize: int('--ring-size', v['ring-size'] as string | undefined, 2, 1 << 20),
      };
      const { captureRemote } = await import('./capture-remote.js');
      return await captureRemote(v.engine as string, args, v.write as string);
    } catch (e) {
      const err = e as LinerateError;
      console.error(`linerate capture: ${err.code ? `${err.code}: ` : ''}${err.message}`);
      return 1;
    }
  }
  const driver = v.driver as string;
  if (driver !== 'af_packet' && driver !== 'af_xdp') {
    console.error(`linerate capture: --driver must be af_packet or af_xdp, got '${driver}'`);
    return 2;
  }
  let engine: Engine | undefined;
  try {
    const filter = filterWords.length ? filterWords.join(' ') : undefined;
    const options: CaptureOptions = {
      filter,
      bpf: v.bpf as string | undefined,
      direction: v.direction as CaptureOptions['direction'],
      queue: int('--queue', v.queue as string | undefined, 0, 65535),
      snaplen: int('-s', v.snaplen as string | undefined, 1, 262144),
      count: int('-c', v.count as string | undefined, 1, Number.MAX_SAFE_INTEGER),
      seconds: v.seconds !== undefined ? Number(v.seconds) : undefined,
      ringSize: int('--ring-size', v['ring-size'] as string | undefined, 2, 1 << 20),
      file: v.write === '-' ? process.stdout : (v.write as string),
    };
    const cpu = int('--cpu', v.cpu as string | undefined, 0, 4095);
    engine = await Engine.create({ ...(cpu !== undefined ? { cpus: [cpu] } : {}), mempool: { mbufs: 8192 } });
    const port = engine.addPort(v.interface as string, {
      driver, interface: v.interface as string, ...(v.netns ? { netns: v.netns as string } : {}),
      rxQueues: int('--queues', v.queues as string, 1, 64),
    } as PortOptions);
    // The engine must poll the port for its frames to be seen; what it receives goes to a sink.
    const sink = engine.addPort('capture-sink', { driver: 'null' });
    engine.forward(port, sink);
    await engine.start();
    const cap = engine.capture(port, options);
    // As tcpdump's "listening on": tells a person, and a script, that frames are being captured now.
    console.error(`linerate capture: capturing on ${v.interface as string} (${driver}${v.netns ? `, netns ${v.netns as string}` : ''}), filter ${filter ?? (options.bpf ? 'cBPF' : 'none')}; Ctrl-C ends it`);
    const onSignal = () => void cap.stop().catch(() => {}); // awaited below through cap.done
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const s: CaptureStats = await cap.done;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    console.error(`${s.written} packets captured, ${s.accepted} accepted by the filter of ${s.seen} seen, ${s.dropped} dropped by the capture ring`);
    return 0;
  } catch (e) {
    const err = e as LinerateError;
    console.error(`linerate capture: ${err.code ? `${err.code}: ` : ''}${err.message}`);
    return 1;
  } finally {
    await engine?.close();
  }
}
