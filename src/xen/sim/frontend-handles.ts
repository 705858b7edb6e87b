// What a simulated frontend uses of its domain's grant table and event channels: the granting
// side of a grant table and the unbound-port side of event channels. Two implementations: the
// one-thread simulation (grant-table.ts, event-channel.ts) and the cross-thread one
// (shared/), where the guest runs on a thread of its own as a real guest runs on its own vCPUs.

/** The granting domain's side of a grant table (gnttab_grant_foreign_access and friends). */
export interface GrantingTable {
  /** Grants a page of `owner` to `grantee` (filled with `contents`, else zeroed); returns the grant reference. */
  grantAccess(owner: number, grantee: number, readonly: boolean, contents?: Uint8Array): number;
  /** The granted page's current bytes (a fresh view: valid until the grant ends). */
  page(owner: number, ref: number): Uint8Array;
  /** Revokes a grant; false (and kept) while the grantee maps it. */
  endAccess(owner: number, ref: number): boolean;
}

/** A frontend's end of an event channel. */
export interface FrontendPort {
  readonly localPort: number;
  notify(): void;
  unmask(): void;
  close(): void;
}

/** EVTCHNOP_alloc_unbound: a port in `domid` that `remoteDomid` may bind to; `onEvent` runs once per delivery, masked until unmask(). */
export interface FrontendEventChannels {
  allocUnbound(domid: number, remoteDomid: number, onEvent: () => void): FrontendPort;
}
