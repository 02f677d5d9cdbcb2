/**
 * The control protocol (docs/control.md): newline-delimited JSON over a Unix stream socket. A client sends requests
 * `{"id", "cmd", "args"}`, one per line; the engine answers each with `{"id", "ok": true, "result"}` or
 * `{"id", "ok": false, "error": {"code", "message"}}`, in order. `subscribe` turns the connection into a stream of
 * `{"event", "data"}` lines. Bounded everywhere: a request line, the replies a client has not read, and the number of
 * clients, so a slow or hostile client cannot stall the engine's main thread or grow its memory.
 * @module
 */

/** Bumped when a command or a field changes meaning (adding one does not). `info` reports it. */
export const PROTOCOL_VERSION = 1;

/** Longest request line, bytes: requests are small; a longer line closes the connection. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Unread reply bytes after which a client that does not read is disconnected. */
export const MAX_PENDING_REPLY_BYTES = 4 * 1024 * 1024;
/** Requests of one client waiting to be answered; past it the engine stops reading that client until half are done. */
export const MAX_QUEUED_REQUESTS = 64;
/** Clients connected at once; more are refused with one error line. */
export const MAX_CLIENTS = 16;
/** Warnings kept for the `warnings` command (raised and cleared, newest last). */
export const RECENT_WARNINGS = 64;

export interface ControlRequest {
  id?: number | string;
  cmd: string;
  args?: Record<string, unknown>;
}

/** Error codes of replies: a LinerateError code from the command itself, or one of the protocol's. */
export type ControlErrorCode = 'UNKNOWN_COMMAND' | 'BAD_REQUEST' | 'TOO_MANY_CLIENTS' | string;

export type ControlReply =
  | { id: number | string | null; ok: true; result: unknown }
  | { id: number | string | null; ok: false; error: { code: ControlErrorCode; message: string } };

/** A line of a `subscribe` stream. */
export interface ControlEvent {
  event: 'warning' | 'warningCleared' | 'stopped';
  data: unknown;
}

/**
 * Splits a byte stream into lines, at most `max` bytes each. `push` returns the complete lines, or `undefined` when a
 * line grew past `max` (the connection should be closed: whatever it is, it is not a request).
 */
export class LineSplitter {
  private buf = '';
  constructor(private readonly max: number) {}

  push(chunk: string): string[] | undefined {
    this.buf += chunk;
    const lines = this.buf.split('\n');
    this.buf = lines.pop()!;
    if (this.buf.length > this.max || lines.some((l) => l.length > this.max)) return undefined;
    return lines.filter((l) => l.trim().length > 0);
  }
}

/** Checks a parsed request line; returns a message saying what is wrong, or undefined. */
export function requestProblem(r: unknown): string | undefined {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'a request is a JSON object {"id", "cmd", "args"}';
  const o = r as Record<string, unknown>;
  if (typeof o.cmd !== 'string' || o.cmd.length === 0) return 'the request has no "cmd" string';
  if (o.id !== undefined && typeof o.id !== 'number' && typeof o.id !== 'string') return '"id" must be a number or a string';
  if (o.args !== undefined && (o.args === null || typeof o.args !== 'object' || Array.isArray(o.args))) return '"args" must be an object';
  return undefined;
}
