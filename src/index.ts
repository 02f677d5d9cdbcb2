/**
 * linerate: userspace, poll-mode packet processing for Node.js.
 * @packageDocumentation
 */
export { Engine, type EngineInfo, type EngineState, type EngineWarning, type EngineWarningCode, type WarningOptions, type MempoolInfo } from './engine.js';
export type { ErrorSource } from './handler/handlers.js';
export type { WorkerContext, WorkerModule } from './handler/worker-api.js';
export { Port, type PortInfo } from './port.js';
export { LinerateError, type LinerateErrorCode } from './errors.js';
export { SharedRing } from './ring.js';
export type {
  EngineOptions,
  MempoolOptions,
  PortOptions,
  CommonPortOptions,
  NullPortOptions,
  RingPortOptions,
  PcapPortOptions,
  AfPacketPortOptions,
  TapPortOptions,
  ExceptionPathOptions,
  AfXdpPortOptions,
  VfioPortOptions,
  DropRule,
  ForwardOptions,
  RssOptions,
  HandlerMatch,
  HandleOptions,
  HandleInWorkersOptions,
} from './options.js';
export { PacketBatch, type PortRef } from './handler/batch.js';
export * as protocols from './protocols/index.js';
export type { Handler, SyncHandler } from './handler/run-handler.js';
export { RateMeter, type HandlerStats, type EngineStats, type PortStats, type LcoreStats, type MempoolStats, type PortRates, type RxQueueStats, type TxQueueStats } from './stats.js';
export type { HostInfo } from './native.js';
export { Host, HostSocket, type HostStats, type HostCounters, type HostSocketStats, type HostNeighborStats, type NeighborEntry, type SocketCounterFamily, type SocketCounterSpec } from './host/host.js';
export { DatagramBatch, type DatagramHandler } from './host/datagram-batch.js';
export type { HostOptions, HostUdpOptions, HostUdpWorkerOptions, StaticNeighbor } from './host/options.js';
export { ipv4ToNumber, numberToIpv4 } from './host/address.js';
export { registerCommand, unregisterCommand, type ControlCommand, type ControlContext, type ControlInfo, type ControlStats, type ControlLcoreStats } from './control/server.js';
export { ControlClient, listEngines, findEngine, type RunningEngine } from './control/client.js';
export { controlDir, type ControlOptions } from './control/dir.js';
export type { ControlEvent, ControlReply, ControlRequest } from './control/protocol.js';
export { Generator, createGenerator, type GeneratorOptions, type RunOptions, type GeneratorInterval, type GeneratorReport } from './gen/generator.js';
export type { PayloadWriter } from './gen/shared.js';
export { LatencyHistogram, type LatencySummary } from './gen/histogram.js';
export { Capture, compileCaptureProgram, type CaptureOptions, type CaptureStats } from './capture/capture.js';
