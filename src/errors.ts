/**
 * Every failure linerate reports is a {@link LinerateError} with a stable `code`.
 * Messages say what to run to fix the problem.
 *
 * Codes:
 * - `INVALID_OPTION`, `UNKNOWN_OPTION`, `UNKNOWN_DRIVER`: configuration errors, found before anything native runs.
 * - `CPU_UNAVAILABLE`: an lcore names a CPU that does not exist or is not in this process's affinity mask.
 * - `HUGEPAGES_UNAVAILABLE`: `hugepages: 'require'` and the host has too few free hugepages.
 * - `MEMORY_UNAVAILABLE`: the mempool could not be mapped at all.
 * - `ENGINE_RUNNING`, `ENGINE_CLOSED`, `PORT_CLOSED`, `PORT_BUSY`, `INVALID_PORT`: lifecycle misuse.
 * - `WIRE_FULL`: a third port joined a ring wire.
 * - `PCAP_FORMAT`, `PCAP_TRUNCATED`, `PCAP_LINKTYPE`, `FRAME_TOO_LARGE`, `FILE_OPEN`: pcap input and output.
 * - `HANDLER_FAILED`: a handler worker could not start (its module failed to load, or has no default export).
 * - `HANDLER_ASYNC`: a handler returned a promise (handlers must be synchronous); emitted once per handler through the
 *   engine's 'error' event, while every burst it handles is dropped and counted.
 * - `ENGINE_STOPPED`: an operation that needs a running engine (send) was called while it is stopped.
 * - `ADDON_LOAD`: the native addon could not be loaded.
 * - `MISSING_DEPENDENCY`: an optional package a feature needs is not installed (linerate/metrics: prom-client).
 * - `NETNS_NOT_FOUND`, `INTERFACE_NOT_FOUND`, `INTERFACE_DOWN`, `MISSING_CAPABILITY`, `MTU_TOO_LARGE`, `SOCKET_SETUP`,
 *   `TAP_OPEN`: kernel-facing drivers (af_packet, af_xdp, tap) and their interfaces.
 * - `XDP_ATTACH_REFUSED`: the XDP program of an af_xdp port was refused (verifier log in the message) or another
 *   XDP program is attached to the interface.
 * - `TCX_UNSUPPORTED`: an af_packet port's `consume` option needs tcx (Linux 6.6+), which this kernel lacks.
 * - `VFIO_UNAVAILABLE`, `IOMMU_OFF`, `DEVICE_NOT_FOUND`, `DEVICE_BOUND_TO_KERNEL`, `GROUP_NOT_VIABLE`, `MEMLOCK_LIMIT`,
 *   `DEVICE_IN_USE`, `BIND_FAILED`, `VFIO_SETUP`, `DEVICE_UNSUPPORTED`, `DEVICE_TIMEOUT`: the vfio drivers and `linerate bind`.
 * - `RSS_KEY_UNSUPPORTED`: `rss.key` given to a port whose hardware RSS cannot take it (a driver whose queues are spread
 *   by the kernel, a NIC without a keyed hash, a key of the wrong length for the NIC).
 * - `NEIGHBOR_UNRESOLVED`: the load generator's server (or its gateway) did not answer ARP / neighbour solicitation.
 * - `CONTROL_FAILED`: the control socket (docs/control.md) could not be set up, reached, or answered in time.
 * - `UNKNOWN_COMMAND`: a control request named a command the engine does not have.
 * - `ENGINE_NOT_FOUND`, `ENGINE_AMBIGUOUS`: `linerate stats|top|doctor --engine` found no running engine by that pid or
 *   name, or several when none was named (the message lists them).
 */
export type LinerateErrorCode =
  | 'INVALID_OPTION'
  | 'UNKNOWN_OPTION'
  | 'UNKNOWN_DRIVER'
  | 'CPU_UNAVAILABLE'
  | 'HUGEPAGES_UNAVAILABLE'
  | 'MEMORY_UNAVAILABLE'
  | 'ENGINE_RUNNING'
  | 'ENGINE_CLOSED'
  | 'PORT_CLOSED'
  | 'PORT_BUSY'
  | 'INVALID_PORT'
  | 'WIRE_FULL'
  | 'PCAP_FORMAT'
  | 'PCAP_TRUNCATED'
  | 'PCAP_LINKTYPE'
  | 'FRAME_TOO_LARGE'
  | 'FILE_OPEN'
  | 'RING_FORMAT'
  | 'HANDLER_FAILED'
  | 'HANDLER_ASYNC'
  | 'ENGINE_STOPPED'
  | 'ADDON_LOAD'
  | 'MISSING_DEPENDENCY'
  | 'NETNS_NOT_FOUND'
  | 'INTERFACE_NOT_FOUND'
  | 'INTERFACE_DOWN'
  | 'MISSING_CAPABILITY'
  | 'MTU_TOO_LARGE'
  | 'XDP_ATTACH_REFUSED'
  | 'TCX_UNSUPPORTED'
  | 'SOCKET_SETUP'
  | 'TAP_OPEN'
  | 'VFIO_UNAVAILABLE'
  | 'IOMMU_OFF'
  | 'DEVICE_NOT_FOUND'
  | 'DEVICE_BOUND_TO_KERNEL'
  | 'GROUP_NOT_VIABLE'
  | 'MEMLOCK_LIMIT'
  | 'DEVICE_IN_USE'
  | 'BIND_FAILED'
  | 'VFIO_SETUP'
  | 'DEVICE_UNSUPPORTED'
  | 'DEVICE_TIMEOUT'
  | 'RSS_KEY_UNSUPPORTED'
  | 'NEIGHBOR_UNRESOLVED'
  | 'CONTROL_FAILED'
  | 'UNKNOWN_COMMAND'
  | 'ENGINE_NOT_FOUND'
  | 'ENGINE_AMBIGUOUS'
  | 'CAPTURE_BUSY'
  | 'CAPTURE_FILTER_INVALID'
  | 'CAPTURE_BPF_INVALID'
  | 'LIBPCAP_MISSING'
  | 'CAPTURE_OUTPUT'
  | 'NATIVE_ERROR';

/** The one error type linerate throws. `code` is stable across releases; match on it, not on the message. */
export class LinerateError extends Error {
  /** Stable machine-readable code. */
  readonly code: LinerateErrorCode;
  constructor(code: LinerateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LinerateError';
    this.code = code;
  }
}

/** Runs a native call and turns the native error (an Error with a `code`) into a LinerateError. */
export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toLinerateError(e);
  }
}

export function toLinerateError(e: unknown): LinerateError {
  if (e instanceof LinerateError) return e;
  const err = e as { code?: string; message?: string };
  const code = (typeof err?.code === 'string' ? err.code : 'NATIVE_ERROR') as LinerateErrorCode;
  return new LinerateError(code, String(err?.message ?? e), { cause: e });
}
