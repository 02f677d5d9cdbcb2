/**
 * The JS receiver of bench/kernel (`lr-xdp-js`, `lr-pkt-js`): sees every packet
 * and gives no verdict, so each is dropped (freed) after the handler returns.
 * A module, because it runs in an inline worker.
 */
import type { PacketBatch } from '../src/index.js';

export default function sink(batch: PacketBatch): void {
  void batch.count;
}
