// Every kernel entry point returns an i32: >= 0 is success (a count or a value), < 0 is one of
// these statuses. The host turns a negative status into a typed NetbackError whose stable
// `code` is derived from the export name (src/wasm/errors.ts), so adding a status here is the
// whole change. Ranges say how bad it is:
//   -1 .. -99     the packet or request is dropped (counted, error response)
//   -100 .. -199  the frontend broke a rule that disables the vif (netif-protocol.md §6.2 "fatal")
//   -200 .. -299  the host called a kernel wrongly (a backend bug, never guest input)

export const STATUS_OK: i32 = 0;

// Per-packet drops (guest TX, netif-protocol.md §6.2 and §6.1 steps 5-6, 11, 13).
export const STATUS_DROP_TOO_MANY_SLOTS: i32 = -1;   // 18-19 following slots
export const STATUS_DROP_FRAG_OVERSIZE: i32 = -2;    // following slot larger than what remains
export const STATUS_DROP_FIRST_TOO_SMALL: i32 = -3;  // first slot payload < ETH_HLEN
export const STATUS_DROP_COPY_FAILED: i32 = -4;      // a grant copy of this packet failed
export const STATUS_DROP_MCAST_FULL: i32 = -5;       // MCAST_ADD with 64 entries already

// Header parsing and checksum setup (skb_checksum_setup equivalent).
export const STATUS_DROP_NOT_IP: i32 = -20;          // EtherType neither IPv4 nor IPv6
export const STATUS_DROP_NOT_TCP_UDP: i32 = -21;     // L4 protocol neither TCP nor UDP
export const STATUS_DROP_IP_FRAGMENT: i32 = -22;     // IPv4 MF/offset or IPv6 fragment header
export const STATUS_DROP_TRUNCATED: i32 = -23;       // a header runs past the frame
export const STATUS_DROP_BAD_HEADER: i32 = -24;      // version, IHL, lengths that lie
export const STATUS_DROP_EXT_HEADER_LIMIT: i32 = -25; // IPv6 extension-header chain too long
export const STATUS_DROP_CSUM_START_MISMATCH: i32 = -26; // virtio csum_start/csum_offset disagree with the headers
export const STATUS_DROP_GSO_TYPE_MISMATCH: i32 = -27; // GSO type for the other IP version than the frame's
export const STATUS_DROP_GSO_UNSUPPORTED: i32 = -28; // virtio GSO type netif cannot carry (UDP, UDP_L4, unknown)

// Segmentation and RX packing.
export const STATUS_DROP_GSO_NOT_TCP: i32 = -30;     // GSO requested for a non-TCP frame
export const STATUS_DROP_GSO_BAD_SIZE: i32 = -31;    // MSS 0 or headers leave no payload room
export const STATUS_DROP_TOO_BIG: i32 = -32;         // frame larger than 65535 or > 18 RX slots
export const STATUS_NO_SPACE: i32 = -33;             // output region or ring full: retry later

// Fatal: the vif is disabled (netif-protocol.md §6.2).
export const STATUS_FATAL_RING_OVERFLOW: i32 = -100;      // req_prod - req_cons > ring size
export const STATUS_FATAL_CHAIN_UNPUBLISHED: i32 = -101;  // more_data beyond req_prod
export const STATUS_FATAL_TOO_MANY_SLOTS: i32 = -102;     // >= fatal_skb_slots following slots
export const STATUS_FATAL_FRAG_CROSSES_PAGE: i32 = -103;  // following slot offset+size > 4096
export const STATUS_FATAL_FIRST_CROSSES_PAGE: i32 = -104; // first slot offset+size > 4096
export const STATUS_FATAL_EXTRA_MISSING: i32 = -105;      // extra_info beyond req_prod
export const STATUS_FATAL_EXTRA_BAD_TYPE: i32 = -106;     // extra type 0 or >= max
export const STATUS_FATAL_GSO_SIZE_ZERO: i32 = -107;
export const STATUS_FATAL_GSO_BAD_TYPE: i32 = -108;
export const STATUS_FATAL_RING_INCONSISTENT: i32 = -109;  // at attach: req_prod - rsp_prod > size
export const STATUS_FATAL_DISABLED: i32 = -110;           // the queue was already disabled

// Host misuse.
export const STATUS_BAD_ARGUMENT: i32 = -200;        // offset/length outside the region allowed
export const STATUS_BAD_STATE: i32 = -201;           // called out of order (commit before build)
