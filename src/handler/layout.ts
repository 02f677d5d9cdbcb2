/**
 * Byte offsets of the shared-memory structures JavaScript reads and writes,
 * version 1 (docs/memory-format.md). They mirror static_asserts in
 * native/core/mbuf.h, native/core/ring.h and native/pipeline/js_channel.h.
 * @internal
 */
export const MBUF = {
  HEADER_SIZE: 64,
  INDEX: 0,
  DATA_OFF: 4,
  DATA_LEN: 6,
  PORT: 8,
  QUEUE: 10,
  RSS_HASH: 12,
  FLAGS: 16,
  TIMESTAMP: 24,
  USER: 32,
  VERDICT: 40,
  OUT_PORT: 42,
} as const;

export const VERDICT = { DROP: 0, REPLY: 1, FORWARD: 2, SEND: 3 } as const;

/** Host layer additions to the mbuf header (reserved bytes of layout 1; native/pipeline/host/host.h). */
export const HOST_META = { FAMILY: 44, L3_OFF: 45, SOCKET: 46, FLAG_DATAGRAM: 1 << 2 } as const;

export const RING = {
  SIZE: 8,
  MASK: 12,
  CAPACITY: 16,
  PROD_HEAD: 64,
  PROD_TAIL: 68,
  CONS_HEAD: 128,
  CONS_TAIL: 132,
  SLEEPING: 192,
  SLOTS: 256,
} as const;

export const CHANNEL = {
  MAGIC: 0x4c524348,
  VERSION: 1,
  TO_JS_OFF: 8,
  FROM_JS_OFF: 12,
  FREE_OFF: 16,
  PORT: 20,
  QUEUE: 24,
  BURST: 28,
  HAND_ACTIVE: 64,
  HAND_N: 68,
  HAND_K: 72,
  TO_JS_CONS_BEFORE: 76,
  FREE_CONS_BEFORE: 80,
  FROM_JS_PROD_BEFORE: 84,
  JS_COUNTERS: 128, // float64: batches, packets, errors, error drops
} as const;
