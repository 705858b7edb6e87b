// The 10-byte virtio_net_hdr that precedes every frame the engine hands to a sink or takes from
// one, in both directions: the wire format of a TAP opened with IFF_VNET_HDR (and TUNSETVNETHDRSZ
// 10), which the in-process peers speak too, so it belongs to the engine, not to the TAP. The data
// path builds and parses it in Wasm (assembly/vnet.ts); this view is for the host's tests, logs
// and tools.
// see: include/uapi/linux/virtio_net.h struct virtio_net_hdr (little-endian on a little-endian
// host: tun uses the host's byte order unless TUNSETVNETLE/BE says otherwise)

export const VNET_HDR_SIZE = 10;

// flags (virtio_net.h VIRTIO_NET_HDR_F_*)
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

// gso_type (virtio_net.h VIRTIO_NET_HDR_GSO_*)
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export const EMPTY_VNET_HEADER: Readonly<VnetHeader> = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };

function view(bytes: Uint8Array, offset: number): DataView {
  if (offset < 0 || offset + VNET_HDR_SIZE > bytes.length) {
    throw new RangeError(`a virtio_net_hdr at ${offset} does not fit in ${bytes.length} bytes`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset + offset, VNET_HDR_SIZE);
}

export function readVnetHeader(bytes: Uint8Array, offset = 0): VnetHeader {
  const v = view(bytes, offset);
  return {
    flags: v.getUint8(0),
    gsoType: v.getUint8(1),
    hdrLen: v.getUint16(2, true),
    gsoSize: v.getUint16(4, true),
    csumStart: v.getUint16(6, true),
    csumOffset: v.getUint16(8, true),
  };
}

export function writeVnetHeader(bytes: Uint8Array, offset: number, header: Readonly<VnetHeader>): void {
  const v = view(bytes, offset);
  v.setUint8(0, header.flags);
  v.setUint8(1, header.gsoType);
  v.setUint16(2, header.hdrLen, true);
  v.setUint16(4, header.gsoSize, true);
  v.setUint16(6, header.csumStart, true);
  v.setUint16(8, header.csumOffset, true);
}
