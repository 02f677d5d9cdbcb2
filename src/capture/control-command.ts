/**
 * The control socket's `capture` command (docs/control.md): a capture on a
 * port of a running engine, streamed to the client that asked. The reply line
 * comes first ({ port, direction }); then the connection carries the pcapng
 * bytes and nothing else (ControlContext.detach). The capture ends on its own
 * terms (count, seconds), when the engine stops, or when the client half-closes
 * its side (`linerate capture --engine` does on Ctrl-C): the capture then
 * writes what is left and its statistics block, and ends the stream, so the
 * client's file is complete. A client that just disappears stops it too.
 */
import { PassThrough } from 'node:stream';
import type { Engine } from '../engine.js';
import { LinerateError } from '../errors.js';
import type { ControlCommand } from '../control/server.js';
import type { CaptureOptions } from './capture.js';

export const captureControlCommand: ControlCommand<Engine> = (args, ctx) => {
  const { port: name, ...rest } = args;
  if (typeof name !== 'string') throw new LinerateError('INVALID_OPTION', "capture: args.port must be a port's name (linerate stats lists them)");
  if ('file' in rest) throw new LinerateError('INVALID_OPTION', 'capture: no file here: the pcapng is streamed on this connection after the reply');
  const port = ctx.engine.port(name);
  if (!port) throw new LinerateError('INVALID_PORT', `capture: no port '${name}' in this engine (linerate stats lists them)`);
  const out = new PassThrough();
  // Engine.capture checks the options (filter, bpf, direction, snaplen, count, seconds) and throws typed errors.
  const c = ctx.engine.capture(port, { ...(rest as CaptureOptions), file: out });
  const stop = () => void c.stop().catch(() => {}); // its outcome ends the stream below
  void c.done.catch(() => {}).finally(() => out.end());
  ctx.detach((socket) => {
    out.pipe(socket);
    socket.on('end', stop); // the client is done: finish the file
    socket.on('close', stop);
    socket.on('error', stop);
  });
  ctx.onClose(stop);
  const o = rest as CaptureOptions;
  return { port: name, direction: o.direction ?? (o.queue !== undefined ? 'rx' : 'both') };
};
