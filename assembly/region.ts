// Bounds checks of host-given addresses against the regions of the memory map (layout.ts): every
// entry point that takes an address checks it here before it touches memory, so a wrong address
// from the host is a STATUS_BAD_ARGUMENT, never a write into a ring page or another region.

import {
  RX_BUF_OFFSET, RX_BUF_SIZE, SCRATCH_OFFSET, SCRATCH_SIZE, SEG_BUF_OFFSET, SEG_BUF_SIZE, TX_BUF_OFFSET, TX_BUF_SIZE,
} from './layout';

// [address, address + len) inside [start, start + size). Unsigned throughout: an address below
// start wraps to a huge offset and fails the last test, and no sum can overflow.
// @ts-ignore: decorator
@inline export function inRegion(address: usize, len: usize, start: usize, size: usize): bool {
  return address >= start && len <= size && address - start <= size - len;
}

// Where a frame on its way to the guest can be: the RX buffer (from the TAP), the segmentation
// output, or the embedding scratch.
// @ts-ignore: decorator
@inline export function inGuestRxFrameRegion(frame: usize, len: usize): bool {
  return inRegion(frame, len, <usize>RX_BUF_OFFSET, <usize>RX_BUF_SIZE) ||
    inRegion(frame, len, <usize>SEG_BUF_OFFSET, <usize>SEG_BUF_SIZE) ||
    inRegion(frame, len, <usize>SCRATCH_OFFSET, <usize>SCRATCH_SIZE);
}

// Frames (and the virtio_net_hdr in their headroom) live in the packet buffers: guest TX, guest
// RX, segmentation output, or the embedding scratch.
export function inPacketRegion(address: usize, len: usize): bool {
  return inRegion(address, len, <usize>TX_BUF_OFFSET, <usize>TX_BUF_SIZE) || inGuestRxFrameRegion(address, len);
}
