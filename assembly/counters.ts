// Per-queue counters: u64 slots in the COUNTERS region, one index each. The host builds its
// {name, field} table from the COUNTER_* exports (name = the lower-cased suffix), so a counter
// added here appears in stats with no host change. Names follow the kernel's where one exists
// (`rx_gso_checksum_fixup`); "tx_ring" means guest → backend, "rx_ring" backend → guest.

// Guest TX (netif-protocol.md §6.1-6.2).
export const COUNTER_TX_RING_PACKETS: u32 = 0;
export const COUNTER_TX_RING_BYTES: u32 = 1;
export const COUNTER_TX_RING_SLOTS: u32 = 2;
export const COUNTER_TX_DROP_TOO_MANY_SLOTS: u32 = 3;
export const COUNTER_TX_DROP_FRAG_OVERSIZE: u32 = 4;
export const COUNTER_TX_DROP_FIRST_TOO_SMALL: u32 = 5;
export const COUNTER_TX_DROP_COPY_FAILED: u32 = 6;
export const COUNTER_TX_MCAST_ADD: u32 = 7;
export const COUNTER_TX_MCAST_DEL: u32 = 8;
export const COUNTER_TX_MCAST_FULL: u32 = 9;
export const COUNTER_TX_FATAL: u32 = 10;
export const COUNTER_TX_CREDIT_BLOCKED: u32 = 11;     // a batch stopped for lack of credit
export const COUNTER_TX_ZERO_LENGTH_SLOTS: u32 = 12;  // empty following slots (XSA-448)

// Offloads on the guest TX path (checksum setup, vnet header mapping).
export const COUNTER_RX_GSO_CHECKSUM_FIXUP: u32 = 16;
export const COUNTER_TX_DROP_CSUM_SETUP: u32 = 17;
export const COUNTER_TX_DROP_GSO_MISMATCH: u32 = 18; // GSO extra not matching the frame (IP version, not TCP)
export const COUNTER_TX_SW_CSUM: u32 = 19;           // csum_blank completed in Wasm: the TAP takes no offload

// Guest RX (netif-protocol.md §6.3).
export const COUNTER_RX_RING_PACKETS: u32 = 32;
export const COUNTER_RX_RING_BYTES: u32 = 33;
export const COUNTER_RX_RING_SLOTS: u32 = 34;
export const COUNTER_RX_DROP_TOO_BIG: u32 = 35;
export const COUNTER_RX_COPY_ERRORS: u32 = 36;

// Software offloads on the guest RX path (segmentation, checksum completion).
export const COUNTER_RX_SW_SEGMENTED: u32 = 48;
export const COUNTER_RX_SW_SEGMENTS: u32 = 49;
export const COUNTER_RX_SW_CSUM: u32 = 50;

// Control ring (netif-protocol.md §7).
export const COUNTER_CTRL_REQUESTS: u32 = 64;        // requests answered
export const COUNTER_CTRL_REJECTED: u32 = 65;        // answered with a status other than SUCCESS

export const COUNTER_SLOTS: u32 = 512; // COUNTERS_SIZE / 8
