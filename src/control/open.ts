/**
 * Opening an engine's control socket at start(): where (options, the control directory), under which name, and what
 * happens when it cannot be opened. The socket is a tool for operators, not part of the data path: an engine whose
 * socket cannot be opened runs without it and says so once on stderr.
 * @module
 */
import { join } from 'node:path';
import { controlDir, ensureControlDir, removeStaleSockets, socketName, type ControlOptions } from './dir.js';
import { ControlServer, listening, type ControlSource } from './server.js';

/** Engines of this process whose name was taken by another running one: the suffix of the next. */
let clashes = 0;

/** Opens the control socket of engine `engine` (`src.name`), or returns undefined with the reason on stderr. @internal */
export async function openControl<E>(engine: E, src: ControlSource, options: false | ControlOptions | undefined): Promise<ControlServer<E> | undefined> {
  if (options === false) return undefined;
  try {
    const dir = options?.dir ?? controlDir();
    if (options?.path === undefined) {
      ensureControlDir(dir);
      removeStaleSockets(dir);
    }
    let path = options?.path ?? join(dir, socketName(process.pid, src.name));
    // Two running engines of one process with the same name: the later one gets a suffix.
    while (listening(path)) path = join(dir, socketName(process.pid, `${src.name}-${++clashes}`));
    const server = new ControlServer<E>(engine, src, path);
    await server.listen();
    return server;
  } catch (e) {
    console.error(`linerate: engine '${src.name}' runs without its control socket (linerate ls, stats, top will not see it): ${(e as Error).message}`);
    return undefined;
  }
}
