/**
 * A benchmark's scratch space: a temp dir and, on demand, a namespace bed
 * (scripts/netns.sh up NAME --isolate-b). Both are removed, with every tracked
 * child process, when the process exits (also on SIGINT and SIGTERM).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll } from './children.js';

const netnsSh = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'netns.sh');

/** What scripts/netns.sh up prints: namespaces, interfaces and MACs of both ends. */
export interface Bed {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  macA: string;
  macB: string;
}

export class BenchScratch {
  /** The bed's name: lrt-<pid>-<tag> (scripts/netns.sh cleanup finds leftovers by the prefix). */
  readonly name: string;
  readonly tmp: string;
  private bedUp = false;

  constructor(tag: string) {
    this.name = `lrt-${process.pid}-${tag}`;
    this.tmp = mkdtempSync(join(tmpdir(), `lrt-${tag}-`));
    process.on('exit', () => this.cleanup());
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  }

  /** Brings the bed up (B's kernel kept off B's end). */
  bed(): Bed {
    const line = execFileSync('bash', [netnsSh, 'up', this.name, '--isolate-b'], { encoding: 'utf8' }).trim().split(/\s+/);
    this.bedUp = true;
    return { nsA: line[0]!, nsB: line[1]!, ifA: line[2]!, ifB: line[3]!, macA: line[4]!, macB: line[5]! };
  }

  /** Kills the children, takes the bed down and removes the temp dir. Idempotent. */
  cleanup(): void {
    killAll();
    if (this.bedUp) {
      this.bedUp = false;
      spawnSync('bash', [netnsSh, 'down', this.name], { stdio: 'ignore' });
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
