// Where a vif's frames go and come from: a TAP device on a real host, or an in-process peer
// (a software bridge between simulated guests) where no TAP can be had. Frames cross with the
// 10-byte virtio_net_hdr in front (vnet-header.ts), exactly as a TAP opened with IFF_VNET_HDR reads
// and writes them.

/** Offloads the other side accepts in a virtio_net_hdr (TUNSETOFFLOAD on a TAP). */
export interface SinkOffloads {
  /** NEEDS_CSUM frames (TUN_F_CSUM). Without it the engine completes checksums in Wasm. */
  csum: boolean;
  /** GSO TCPv4 frames (TUN_F_TSO4). Without it the engine segments in Wasm. */
  tso4: boolean;
  /** GSO TCPv6 frames (TUN_F_TSO6). */
  tso6: boolean;
}

export interface PacketSink {
  readonly offloads: SinkOffloads;
  /**
   * Takes one frame from the guest: `bytes[offset, offset + length)` is a virtio_net_hdr then the
   * Ethernet frame. The bytes are only valid during the call. Returns false if the frame was
   * dropped (a full TAP queue).
   */
  transmit(bytes: Uint8Array, offset: number, length: number): boolean;
  /**
   * Takes `count` frames in one call, frame i at `bytes[descriptors[2i], +descriptors[2i+1])`
   * (each a virtio_net_hdr then the frame), valid only during the call; returns how many were
   * taken (the others were dropped). A sink with it costs one crossing to native code per batch
   * instead of one per frame (a TAP's writeFrames); without it the engine calls transmit().
   */
  transmitBatch?(bytes: Uint8Array, descriptors: Uint32Array, count: number): number;
}
