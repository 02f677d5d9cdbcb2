/**
 * `linerate capture --engine [ENGINE] -i PORT -w FILE|- [FILTER...]`: a capture
 * on a port of a running engine, through its control socket's `capture`
 * command (src/capture/control-command.ts). The engine filters and copies on
 * its lcores as for engine.capture(); this process only writes the pcapng
 * bytes that follow the command's reply line. Ctrl-C half-closes the
 * connection: the engine finishes the file (the rest of the packets and the
 * statistics block) and ends the stream, so the file is complete.
 */
import { createWriteStream } from 'node:fs';
import { connect } from 'node:net';
import type { Writable } from 'node:stream';
import { LinerateError, type LinerateErrorCode } from '../errors.js';
import { findEngine } from '../control/client.js';

/** Captures `args` (the command's: port, filter, bpf, direction, snaplen, count, seconds) into `write` ('-': stdout). */
export async function captureRemote(which: string, args: Record<string, unknown>, write: string): Promise<number> {
  const engine = await findEngine(which);
  const socket = connect(engine.path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (e) => reject(new LinerateError('CONTROL_FAILED', `cannot connect to ${engine.path}: ${e.message}`, { cause: e })));
  });
  socket.write(JSON.stringify({ id: 1, cmd: 'capture', args }) + '\n');
  // The reply line, then raw pcapng bytes.
  let head = Buffer.alloc(0);
  const reply = await new Promise<{ ok: boolean; error?: { code: string; message: string } }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(0x0a);
      if (nl < 0) return;
      socket.off('data', onData);
      socket.pause();
      const line = head.subarray(0, nl).toString('utf8');
      head = head.subarray(nl + 1);
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new LinerateError('CONTROL_FAILED', `the engine answered something that is not a reply: ${line.slice(0, 200)}`));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new LinerateError('CONTROL_FAILED', `${engine.path} closed the connection before answering`)));
  });
  if (!reply.ok) {
    socket.destroy();
    throw new LinerateError((reply.error?.code ?? 'CONTROL_FAILED') as LinerateErrorCode, reply.error?.message ?? 'the capture command failed');
  }
  const out: Writable = write === '-' ? process.stdout : createWriteStream(write);
  console.error(`linerate capture: capturing on port '${String(args.port)}' of engine ${engine.pid}-${engine.name}; Ctrl-C ends it`);
  const onSignal = () => socket.end(); // half-close: the engine completes the file and ends the stream
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let bytes = head.length;
  if (head.length) out.write(head);
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (!out.write(chunk)) {
      socket.pause();
      out.once('drain', () => socket.resume());
    }
  });
  socket.resume();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (out !== process.stdout) await new Promise<void>((res) => out.end(res));
  console.error(`linerate capture: ${bytes} bytes of pcapng from the engine`);
  return 0;
}
