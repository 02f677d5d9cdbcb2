/**
 * `linerate ls`, `linerate stats`, `linerate top`: a running engine seen from another shell, through its control
 * socket (docs/control.md). What `ip -s link`, `ethtool -S`, `top`/`mpstat` and `ss` are for kernel interfaces.
 * @module
 */
import { ControlClient, findEngine, listEngines, type RunningEngine } from '../control/client.js';
import { controlDir } from '../control/dir.js';
import type { ControlStats } from '../control/server.js';
import { LinerateError } from '../errors.js';
import { rates, renderFrame } from './frame.js';

interface LiveArgs {
  engine?: string;
  json: boolean;
  once: boolean;
  watch?: number;
  interval: number;
}

const USAGE = {
  ls: 'linerate ls [--json]',
  stats: 'linerate stats [ENGINE] [--json] [--watch S] [--interval S]',
  top: 'linerate top [ENGINE] [--interval S] [--once]',
};

function parse(cmd: keyof typeof USAGE, args: string[]): LiveArgs {
  const out: LiveArgs = { json: false, once: false, interval: 1 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const seconds = () => {
      const v = Number(args[++i]);
      if (!(v >= 0.05 && v <= 3600)) throw new LinerateError('INVALID_OPTION', `${a} takes seconds, 0.05 to 3600 (${USAGE[cmd]})`);
      return v;
    };
    if (a === '--json') out.json = true;
    else if (a === '--once') out.once = true;
    else if (a === '--watch' && cmd === 'stats') out.watch = seconds();
    else if (a === '--interval') out.interval = seconds();
    else if (!a.startsWith('-') && out.engine === undefined && cmd !== 'ls') out.engine = a;
    else throw new LinerateError('INVALID_OPTION', `unknown argument '${a}'; usage: ${USAGE[cmd]}`);
  }
  if (out.watch !== undefined) out.interval = out.watch;
  return out;
}

function uptime(s: number): string {
  const t = Math.floor(s);
  return t >= 86400 ? `${Math.floor(t / 86400)}d${Math.floor((t % 86400) / 3600)}h` : `${Math.floor(t / 3600)}:${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}

/** `linerate ls`: the engines of this host, from the control directory (stale sockets of dead processes removed). */
async function ls(args: LiveArgs): Promise<number> {
  const all = await listEngines();
  if (args.json) {
    console.log(JSON.stringify(all.map((e) => ({ socket: e.path, ...e.info }))));
    return 0;
  }
  if (all.length === 0) {
    console.log(`no linerate engine is running (control directory ${controlDir()})`);
    return 0;
  }
  console.log(`${'PID'.padEnd(8)}${'NAME'.padEnd(14)}${'UPTIME'.padStart(9)}  ${'LCORES'.padEnd(8)}PORTS`);
  for (const e of all) {
    const ports = e.info.ports.map((p) => `${p.name}(${p.driver})`).join(' ');
    console.log(`${String(e.pid).padEnd(8)}${e.name.padEnd(14)}${uptime(e.info.uptimeSeconds).padStart(9)}  ${e.info.lcores.map((l) => l.cpu).join(',').padEnd(8)}${ports}`);
  }
  return 0;
}

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

/** `linerate stats`: one frame (or JSON line) from two samples `interval` apart; with --watch, one per S seconds. */
async function stats(args: LiveArgs): Promise<number> {
  const e = await findEngine(args.engine);
  const c = await ControlClient.connect(e.path);
  try {
    let prev = await c.stats();
    for (;;) {
      await sleep(args.interval);
      const cur = await c.stats();
      const info = await c.info();
      if (args.json) console.log(JSON.stringify({ engine: info, stats: cur, rates: rates(prev, cur) }));
      else console.log(renderFrame(info, prev, cur).join('\n') + (args.watch !== undefined ? '\n' : ''));
      prev = cur;
      if (args.watch === undefined || args.once) return 0;
    }
  } finally {
    c.close();
  }
}

/** `linerate top`: the frame redrawn every interval in the terminal's alternate screen; q (or Ctrl-C) quits. */
async function top(args: LiveArgs): Promise<number> {
  const e: RunningEngine = await findEngine(args.engine);
  const c = await ControlClient.connect(e.path);
  if (args.once) {
    try {
      const prev = await c.stats();
      await sleep(Math.min(args.interval, 1));
      console.log(renderFrame(await c.info(), prev, await c.stats()).join('\n'));
      return 0;
    } finally {
      c.close();
    }
  }
  const out = process.stdout;
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  // Alternate screen (xterm private mode 1049) and hidden cursor (DECTCEM, mode 25), restored on the way out.
  out.write('\x1b[?1049h\x1b[?25l');
  if (tty) stdin.setRawMode(true);
  stdin.resume();
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => (done = r));
  stdin.on('data', (d: Buffer) => {
    // q or Q quits; in raw mode Ctrl-C arrives as a byte (0x03) rather than a signal.
    if (d.includes(0x71) || d.includes(0x51) || d.includes(0x03)) done(0);
  });
  stdin.on('end', () => done(0));
  c.onEvent = (ev) => {
    if (ev.event === 'stopped') done(3);
  };
  let prev: ControlStats | undefined;
  let lost = '';
  const draw = async () => {
    try {
      const cur = await c.stats();
      const info = await c.info();
      const lines = renderFrame(info, prev, cur, 'q: quit');
      prev = cur;
      out.write('\x1b[H\x1b[2J' + lines.slice(0, Math.max(1, (out.rows || 24) - 1)).join('\r\n'));
    } catch (err) {
      lost = (err as Error).message;
      done(3);
    }
  };
  await c.request('subscribe');
  await draw();
  const timer = setInterval(draw, args.interval * 1000);
  const code = await finished;
  clearInterval(timer);
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  out.write('\x1b[?25h\x1b[?1049l');
  c.close();
  if (code === 3) console.error(`linerate top: engine ${e.pid} ${e.name} went away${lost ? `: ${lost}` : ''} (linerate ls)`);
  return code;
}

/** Runs `cmd` (ls, stats, top); prints a LinerateError's code and message and returns 1 (2 for usage). */
export async function liveCommand(cmd: 'ls' | 'stats' | 'top', argv: string[]): Promise<number> {
  try {
    const args = parse(cmd, argv);
    if (cmd === 'ls') return await ls(args);
    if (cmd === 'stats') return await stats(args);
    return await top(args);
  } catch (e) {
    const err = e as LinerateError;
    console.error(`linerate ${cmd}: ${err.code ? `${err.code}: ` : ''}${err.message}`);
    return err.code === 'INVALID_OPTION' ? 2 : 1;
  }
}
