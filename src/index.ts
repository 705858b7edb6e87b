// Public entry point for Node: the embedding API of the kernels and the typed errors.

import { kernelsFromBytes, type Kernels } from './wasm/kernels.js';
import { readKernels, type KernelBuild } from './wasm/node-source.js';

export { Kernels, kernelsFromBytes, type GsoType, type SegmentOptions } from './wasm/kernels.js';
export { KernelInstance, compileKernels, instantiateKernels, type Layout } from './wasm/module.js';
export { NetbackError } from './errors.js';
export { PacketDropError, FrontendFatalError, KernelUsageError, classifyStatus } from './wasm/errors.js';
export { kernelsPath, readKernels, type KernelBuild } from './wasm/node-source.js';
// Per-queue kernel wrappers for the engine (and for embedding): in place, integers across.
export { TxRingKernel, type TxBuildOptions, type TxBuildResult, type TxGrantOp, type TxPacket, type TxCommitResult } from './wasm/tx-ring.js';
export { RxRingKernel, type RxChecksum, type RxFrameMeta, type RxPackResult, type RxCopyOp, type RxBatchPacket } from './wasm/rx-ring.js';
export { Offload, type FrontendOffloads, type VnetHeader, type RxOffload, type ChecksumSetup } from './wasm/offload.js';
export { Segmenter, type SegmentRef } from './wasm/segment.js';

export interface LoadKernelsOptions {
  /** 'debug' keeps assertions in the kernels (a backend bug traps instead of passing silently). */
  build?: KernelBuild;
}

/** Loads the kernels module built with this package. */
export async function loadKernels(options: LoadKernelsOptions = {}): Promise<Kernels> {
  return kernelsFromBytes(await readKernels(options.build));
}

// Node-only, Linux: the TAP device through the optional native addon (loaded on first use).
export { TapDevice, TapConfigError, TapClosedError, validateInterfaceName, type TapOpenOptions, type TapOffloads } from './tap/tap.js';
export { NativeAddonMissingError, SyscallError, NativeUsageError, nativeAvailable, type NativeBuffer } from './native/addon.js';
export * from './backend/vnet-header.js';
