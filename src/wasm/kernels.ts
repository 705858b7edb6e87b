// The small public API for embedding and tests: whole-buffer calls that copy in, run one kernel
// and copy out. The engine uses KernelInstance directly, in place, without these copies.

import { PacketDropError } from './errors.js';
import { compileKernels, instantiateKernels, type KernelInstance } from './module.js';

export type GsoType = 'tcpv4' | 'tcpv6';

export interface SegmentOptions {
  gsoType: GsoType;
  /** TCP payload bytes per segment. */
  mss: number;
}

// XEN_NETIF_GSO_TYPE_* (netif.h), the numbering tso_segment takes.
const GSO_TYPE_NUMBER: Record<GsoType, number> = { tcpv4: 1, tcpv6: 2 };

export class Kernels {
  readonly instance: KernelInstance;
  private readonly scratch: number;
  private readonly scratchSize: number;

  constructor(instance: KernelInstance) {
    this.instance = instance;
    this.scratch = instance.constant('SCRATCH_OFFSET');
    this.scratchSize = instance.constant('SCRATCH_SIZE');
  }

  /** RFC 1071 checksum: the 16-bit value to store (big-endian order), complemented. */
  internetChecksum(bytes: Uint8Array): number {
    this.load(bytes);
    return this.instance.call('inet_checksum', this.scratch, bytes.length);
  }

  /**
   * Completes the L4 checksum of an Ethernet frame in place. On entry the TCP/UDP checksum field
   * holds the pseudo-header sum (csum_blank semantics). Throws a PacketDropError with a stable
   * code when the frame is a typed drop (not IP, not TCP/UDP, a fragment, truncated...).
   */
  completeChecksum(frame: Uint8Array): void {
    this.load(frame);
    this.instance.call('csum_complete', this.scratch, frame.length);
    frame.set(this.instance.bytes.subarray(this.scratch, this.scratch + frame.length));
  }

  /** TSO: each result is a complete Ethernet frame with valid IP and TCP checksums. */
  segment(frame: Uint8Array, options: SegmentOptions): Uint8Array[] {
    const gsoType = GSO_TYPE_NUMBER[options.gsoType];
    if (gsoType === undefined) throw new PacketDropError('NETBACK_DROP_GSO_BAD_TYPE', -1, `unknown GSO type ${String(options.gsoType)}`);
    this.load(frame);
    const descriptors = this.instance.constant('SEG_DESC_OFFSET');
    const stride = this.instance.constant('SEG_DESC_STRIDE');
    const segments: Uint8Array[] = [];
    let resumeFrom = 0;
    do {
      const count = this.instance.call('tso_segment', this.scratch, frame.length, gsoType, options.mss, resumeFrom);
      const view = this.instance.view;
      for (let i = 0; i < count; i++) {
        const address = view.getUint32(descriptors + i * stride, true);
        const length = view.getUint32(descriptors + i * stride + 4, true);
        segments.push(this.instance.read(address, length));
      }
      resumeFrom = this.instance.fn('tso_resume_offset')();
    } while (resumeFrom !== 0);
    return segments;
  }

  /** Toeplitz hash of `input` under `key`, as netif.h specifies it (u32). */
  toeplitz(key: Uint8Array, input: Uint8Array): number {
    const inputAddress = this.scratch + key.length;
    this.load(key);
    this.instance.write(inputAddress, input, this.scratch, this.scratchSize);
    this.instance.call('toeplitz_hash', this.scratch, key.length, inputAddress, input.length);
    return this.instance.fn('toeplitz_hash_value')() >>> 0;
  }

  private load(bytes: Uint8Array): void {
    this.instance.write(this.scratch, bytes, this.scratch, this.scratchSize);
  }
}

/** Compiles and instantiates the kernels from the given bytes (any runtime: Node, browser). */
export async function kernelsFromBytes(bytes: BufferSource): Promise<Kernels> {
  return new Kernels(await instantiateKernels(await compileKernels(bytes)));
}
