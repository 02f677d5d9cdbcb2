/**
 * Allocation-free helpers for the common reads and rewrites a handler does:
 * Ethernet, IPv4/IPv6, UDP/TCP ports, checksums, the five-tuple.
 */
export * from './ethernet.js';
export * from './ip.js';
export * from './l4.js';
