// The control-ring and hashing kernels (assembly/netif/ctrl.ts) for the host: attach at connect,
// serve requests (with the grant copy SET_HASH_KEY / SET_HASH_MAPPING need), and hash / steer
// frames for the guest. Only integers cross the boundary.

import type { KernelInstance } from './module.js';

/** XEN_NETIF_CTRL_HASH_TYPE_* bit numbers: what a HASH extra carries. */
export type HashType = 0 | 1 | 2 | 3;

export interface FrameHash {
  type: HashType;
  /** The Toeplitz value (u32). */
  value: number;
}

/** What one ctrlProcess/ctrlCommit step asks of the host. */
export interface CtrlStep {
  /** One grant-copy op waits at `opAddress`: copy it, then call commit(). */
  copy: boolean;
  /** Responses were pushed and the frontend asked to be notified. */
  notify: boolean;
  /** The per-call budget ran out with requests left: call process() again. */
  more: boolean;
}

export class CtrlRingKernel {
  readonly instance: KernelInstance;
  /** Address of the pending request's grant-copy op (GNTOP format, one op). */
  readonly opAddress: number;
  private readonly bits: { copy: number; notify: number; more: number };
  private readonly hashNone: number;
  private readonly scratch: number;
  private readonly scratchSize: number;
  private readonly fns: {
    process: () => number;
    commit: () => number;
    algorithm: () => number;
    flowHash: (frame: number, len: number) => number;
    hashValue: () => number;
    selectQueue: (hash: number, queues: number) => number;
  };

  constructor(instance: KernelInstance) {
    this.instance = instance;
    this.opAddress = instance.fn('ctrl_op_address')() >>> 0;
    this.bits = { copy: instance.constant('CTRL_R_COPY'), notify: instance.constant('CTRL_R_NOTIFY'), more: instance.constant('CTRL_R_MORE') };
    this.hashNone = instance.constant('FLOW_HASH_NONE');
    this.scratch = instance.constant('SCRATCH_OFFSET');
    this.scratchSize = instance.constant('SCRATCH_SIZE');
    this.fns = {
      process: instance.fn('ctrl_process'),
      commit: instance.fn('ctrl_commit'),
      algorithm: instance.fn('ctrl_hash_algorithm'),
      flowHash: instance.fn('flow_hash'),
      hashValue: instance.fn('flow_hash_value'),
      selectQueue: instance.fn('select_queue'),
    };
  }

  /** At connect (the ring page mapped at CTRL_RING_OFFSET). Throws FrontendFatalError on an impossible ring. */
  attach(numQueues: number): void {
    this.instance.call('ctrl_attach', numQueues);
  }

  /** Answers every request it can (stopping at one that needs a grant copy) and pushes. */
  process(): CtrlStep {
    return this.step(this.instance.statuses.check(this.fns.process(), 'ctrl_process'));
  }

  /** After the op at `opAddress` was copied: answers the pending request and pushes. */
  commit(): CtrlStep {
    return this.step(this.instance.statuses.check(this.fns.commit(), 'ctrl_commit'));
  }

  /** The backend's request consumer index. */
  get reqCons(): number {
    return this.instance.fn('ctrl_req_cons')() >>> 0;
  }

  /** XEN_NETIF_CTRL_HASH_ALGORITHM_*: 0 none, 1 Toeplitz. */
  get algorithm(): number {
    return this.fns.algorithm() >>> 0;
  }

  /** The active hash flags mask (XEN_NETIF_CTRL_HASH_TYPE_* bits). */
  get flags(): number {
    return this.instance.fn('ctrl_hash_flags')() >>> 0;
  }

  get mappingSize(): number {
    return this.instance.fn('ctrl_hash_mapping_size')() >>> 0;
  }

  /** The active mapping table (mappingSize entries). */
  mapping(): number[] {
    const f = this.instance.fn('ctrl_hash_mapping');
    return Array.from({ length: this.mappingSize }, (_, i) => f(i) >>> 0);
  }

  /** The configured key (40 bytes, zero-padded). */
  key(): Uint8Array {
    const at = this.instance.constant('CTRL_STATE_OFFSET') + this.instance.constant('CTRL_KEY');
    return this.instance.read(at, 40);
  }

  /** The hash of a frame already in RX_BUF, SEG_BUF or SCRATCH; undefined when it gets none. */
  hashAt(frameAddress: number, len: number): FrameHash | undefined {
    const type = this.instance.statuses.check(this.fns.flowHash(frameAddress, len), 'flow_hash');
    if (type === this.hashNone) return undefined;
    return { type: type as HashType, value: this.fns.hashValue() >>> 0 };
  }

  /**
   * The hash of `frame` (its headers: at most `scratchSize` bytes are copied into SCRATCH, and
   * the headers a hash reads are far shorter).
   */
  hash(frame: Uint8Array): FrameHash | undefined {
    const len = Math.min(frame.length, this.scratchSize);
    this.instance.write(this.scratch, frame.subarray(0, len), this.scratch, this.scratchSize);
    return this.hashAt(this.scratch, len);
  }

  /** Linux's queue for a hashed frame: mapping[hash % size], or hash % queues without a table. */
  selectQueue(hash: number, numQueues: number): number {
    return this.instance.statuses.check(this.fns.selectQueue(hash >>> 0, numQueues), 'select_queue');
  }

  private step(bits: number): CtrlStep {
    return { copy: (bits & this.bits.copy) !== 0, notify: (bits & this.bits.notify) !== 0, more: (bits & this.bits.more) !== 0 };
  }
}
