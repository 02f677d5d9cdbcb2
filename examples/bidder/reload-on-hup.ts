/**
 * SIGHUP reloads the bidder's campaign file (main.ts on linerate, dgram.ts on
 * Node dgram) and says how it went: a bad file keeps the old campaigns.
 */
import type { BidderServer } from './server.js';

export function reloadOnSighup(server: BidderServer): void {
  process.on('SIGHUP', () => {
    const r = server.reload();
    console.log(r.ok ? `reloaded: ${r.campaigns} campaigns (load ${r.generation})` : `reload failed, still serving the old campaigns: ${r.error.message}`);
  });
}
