// Wire constants of the netif protocol, named after the header and by direction.
// see: xen/include/public/io/netif.h, ring.h, grant_table.h (netif-protocol.md §1-3)

// Shared ring geometry (ring.h DEFINE_RING_TYPES: header 64 bytes, entries rounded down to 2^n).
export const RING_REQ_PROD: u32 = 0;
export const RING_REQ_EVENT: u32 = 4;
export const RING_RSP_PROD: u32 = 8;
export const RING_RSP_EVENT: u32 = 12;
export const RING_ENTRIES: u32 = 64;
export const TX_RING_SLOTS: u32 = 256;
export const TX_SLOT_SIZE: u32 = 12;
export const RX_RING_SLOTS: u32 = 256;
export const RX_SLOT_SIZE: u32 = 8;
export const CTRL_RING_SLOTS: u32 = 128;
export const CTRL_SLOT_SIZE: u32 = 16;

// netif_tx_request (12 bytes): gref u32 @0, offset u16 @4, flags u16 @6, id u16 @8, size u16 @10.
export const TXREQ_GREF: u32 = 0;
export const TXREQ_OFFSET: u32 = 4;
export const TXREQ_FLAGS: u32 = 6;
export const TXREQ_ID: u32 = 8;
export const TXREQ_SIZE: u32 = 10;
// netif_tx_response: id u16 @0, status s16 @2.
export const TXRSP_ID: u32 = 0;
export const TXRSP_STATUS: u32 = 2;

// NETTXF_* (netif.h "Guest transmit"): bits 0 and 1 are swapped relative to NETRXF_*.
export const NETTXF_CSUM_BLANK: u16 = 0x1;
export const NETTXF_DATA_VALIDATED: u16 = 0x2;
export const NETTXF_MORE_DATA: u16 = 0x4;
export const NETTXF_EXTRA_INFO: u16 = 0x8;

// netif_rx_request (8 bytes): id u16 @0, pad u16 @2, gref u32 @4.
export const RXREQ_ID: u32 = 0;
export const RXREQ_GREF: u32 = 4;
// netif_rx_response (8 bytes): id u16 @0, offset u16 @2, flags u16 @4, status s16 @6.
export const RXRSP_ID: u32 = 0;
export const RXRSP_OFFSET: u32 = 2;
export const RXRSP_FLAGS: u32 = 4;
export const RXRSP_STATUS: u32 = 6;

// NETRXF_* (netif.h "Guest receive").
export const NETRXF_DATA_VALIDATED: u16 = 0x1;
export const NETRXF_CSUM_BLANK: u16 = 0x2;
export const NETRXF_MORE_DATA: u16 = 0x4;
export const NETRXF_EXTRA_INFO: u16 = 0x8;
export const NETRXF_GSO_PREFIX: u16 = 0x10;

// NETIF_RSP_*.
export const NETIF_RSP_DROPPED: i16 = -2;
export const NETIF_RSP_ERROR: i16 = -1;
export const NETIF_RSP_OKAY: i16 = 0;
export const NETIF_RSP_NULL: i16 = 1;

// netif_extra_info (8 bytes): type u8 @0, flags u8 @1, union @2.
export const EXTRA_TYPE: u32 = 0;
export const EXTRA_FLAGS: u32 = 1;
export const EXTRA_GSO_SIZE: u32 = 2;     // u16
export const EXTRA_GSO_TYPE: u32 = 4;     // u8
export const EXTRA_GSO_PAD: u32 = 5;      // u8
export const EXTRA_GSO_FEATURES: u32 = 6; // u16
export const EXTRA_MCAST_ADDR: u32 = 2;   // 6 bytes
export const EXTRA_HASH_TYPE: u32 = 2;    // u8: a hash-type bit number
export const EXTRA_HASH_ALG: u32 = 3;     // u8
export const EXTRA_HASH_VALUE: u32 = 4;   // 4 bytes, LSB first
export const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 0x1;

export const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
export const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
export const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
export const XEN_NETIF_EXTRA_TYPE_XDP: u8 = 5;
// Linux's header counts XDP, Xen's does not; Linux netback validates with its own MAX, so type 5
// is accepted on TX and ignored. see: netback.c xenvif_get_extras
export const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 6;

export const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
export const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

// Hash types are bit numbers on the wire (HASH extra) and masks in control messages.
export const XEN_NETIF_CTRL_HASH_TYPE_IPV4: u8 = 0;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP: u8 = 1;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV6: u8 = 2;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP: u8 = 3;
export const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ: u8 = 1;
export const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE: u8 = 0;

// Limits Linux netback enforces. see: netback.c, common.h, netif.h XEN_NETIF_NR_SLOTS_MIN
export const XEN_PAGE_SIZE: u32 = 4096;
export const ETH_HLEN: u32 = 14;
export const XEN_NETBK_LEGACY_SLOTS_MAX: u32 = 18;
export const FATAL_SKB_SLOTS_DEFAULT: u32 = 20;
export const XEN_NETIF_NR_SLOTS_MIN: u32 = 18;
export const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;
export const XEN_NETBK_MCAST_MAX: u32 = 64;

// Grant-copy plan entry (16 bytes), the one format both directions hand to the host, which turns
// each into a GNTTABOP_copy / gntdev_grant_copy_segment. The guest side never crosses a 4 KiB
// page (GNTST_bad_copy_arg otherwise); the local side is a Wasm-memory address.
export const GNTOP_SIZE: u32 = 16;
export const GNTOP_GREF: u32 = 0;        // u32 guest grant reference
export const GNTOP_GUEST_OFFSET: u32 = 4; // u16 offset in the guest page
export const GNTOP_LEN: u32 = 6;          // u16 bytes, 1..4096
export const GNTOP_LOCAL: u32 = 8;        // u32 Wasm-memory address
export const GNTOP_STATUS: u32 = 12;      // s16 GNTST_* written by the host (0 okay)
export const GNTOP_FLAGS: u32 = 14;       // u16 GNTOP_F_*
export const GNTOP_F_TO_GUEST: u16 = 0x1; // RX: local -> guest page; else guest page -> local

// GNTST_* (grant_table.h): only "okay" is special to the kernels; any negative value fails a copy.
export const GNTST_OKAY: i16 = 0;

// Control ring (netif.h "Control messages", netif-protocol.md §7.1): xen_netif_ctrl_request is
// id u16 @0, type u16 @2, data[3] u32 @4/@8/@12; xen_netif_ctrl_response is id u16 @0, type u16 @2,
// status u32 @4, data u32 @8 (12 bytes in a 16-byte slot).
export const CTRLREQ_ID: u32 = 0;
export const CTRLREQ_TYPE: u32 = 2;
export const CTRLREQ_DATA0: u32 = 4;
export const CTRLREQ_DATA1: u32 = 8;
export const CTRLREQ_DATA2: u32 = 12;
export const CTRLRSP_ID: u32 = 0;
export const CTRLRSP_TYPE: u32 = 2;
export const CTRLRSP_STATUS: u32 = 4;
export const CTRLRSP_DATA: u32 = 8;

export const XEN_NETIF_CTRL_TYPE_INVALID: u32 = 0;
export const XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS: u32 = 1;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS: u32 = 2;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_KEY: u32 = 3;
export const XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE: u32 = 4;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE: u32 = 5;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING: u32 = 6;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM: u32 = 7;
export const XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE: u32 = 8;
export const XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING: u32 = 9;
export const XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING: u32 = 10;

export const XEN_NETIF_CTRL_STATUS_SUCCESS: u32 = 0;
export const XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED: u32 = 1;
export const XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER: u32 = 2;
export const XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW: u32 = 3;

// Hash-type masks of the control messages (1 << the bit numbers above).
export const XEN_NETIF_CTRL_HASH_MASK_IPV4: u32 = 0x1;
export const XEN_NETIF_CTRL_HASH_MASK_IPV4_TCP: u32 = 0x2;
export const XEN_NETIF_CTRL_HASH_MASK_IPV6: u32 = 0x4;
export const XEN_NETIF_CTRL_HASH_MASK_IPV6_TCP: u32 = 0x8;
export const XEN_NETIF_CTRL_HASH_MASK_ALL: u32 = 0xF;

// Linux netback's limits. see: common.h XEN_NETBK_MAX_HASH_KEY_SIZE, XEN_NETBK_MAX_HASH_MAPPING_SIZE
export const XEN_NETBK_MAX_HASH_KEY_SIZE: u32 = 40;
export const XEN_NETBK_MAX_HASH_MAPPING_SIZE: u32 = 128;
