/**
 * The raw peer of bench/udp's host-layer cost: a packet handler that answers
 * every frame with reply(i) and nothing else, the least a handler can do. A
 * module, because it runs in an inline worker.
 */
import type { PacketBatch } from '../src/index.js';

export default function reply(batch: PacketBatch): void {
  for (let i = 0; i < batch.count; i++) batch.reply(i);
}
