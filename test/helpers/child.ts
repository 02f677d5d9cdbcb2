/**
 * Child node processes that load the addon directly: for what must not happen
 * inside the test runner (an uncaught exception, an exiting worker, a SIGKILL,
 * a GC count that the runner's own allocations would blur).
 */
import { repoRoot } from './netns.js';

/** The addon a child loads: LINERATE_ADDON_PATH when set (a sanitizer or private build), else the repo's build. */
export function addonLocation(): string {
  return process.env.LINERATE_ADDON_PATH ?? repoRoot;
}

/**
 * A `node -e` script that loads the addon (argv[1]: a .node file or the repo
 * root, see addonLocation) as `addon`, then runs body. Pass addonLocation() as
 * the first argument after the script.
 */
export function childScript(body: string): string {
  return `
    const where = process.argv[1];
    const { createRequire } = require('node:module');
    const req = createRequire(where.endsWith('.node') ? where : where + '/package.json');
    const addon = where.endsWith('.node') ? req(where) : req('node-gyp-build')(where);
    ${body}`;
}
