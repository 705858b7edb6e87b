// A frontend's side of the netif control ring, as Windows PV drivers use it (Linux netfront has
// none): grants a ring page and an event channel for `ctrl-ring-ref` / `event-channel-ctrl`,
// writes xen_netif_ctrl_request entries, and matches responses by id. Key and mapping payloads
// go in pages granted read-only for the one request and revoked after its response.
// see: netif.h "Control ring"; netif-protocol.md §7

import { NetbackError } from '../../errors.js';
import type { SimEventChannels, SimPort } from './event-channel.js';
import type { SimGrantTable } from './grant-table.js';
import { SharedRing } from './netfront-ring.js';

/** netif.h XEN_NETIF_CTRL_TYPE_* */
export const CTRL_TYPE = {
  INVALID: 0,
  GET_HASH_FLAGS: 1,
  SET_HASH_FLAGS: 2,
  SET_HASH_KEY: 3,
  GET_HASH_MAPPING_SIZE: 4,
  SET_HASH_MAPPING_SIZE: 5,
  SET_HASH_MAPPING: 6,
  SET_HASH_ALGORITHM: 7,
  GET_GREF_MAPPING_SIZE: 8,
  ADD_GREF_MAPPING: 9,
  DEL_GREF_MAPPING: 10,
} as const;

/** netif.h XEN_NETIF_CTRL_STATUS_* */
export const CTRL_STATUS = { SUCCESS: 0, NOT_SUPPORTED: 1, INVALID_PARAMETER: 2, BUFFER_OVERFLOW: 3 } as const;

/** netif.h: 16-byte entries in a one-page ring → 128 slots. see: netif-protocol.md §1 */
export const CTRL_RING_SIZE = 128;
const CTRL_ENTRY_SIZE = 16;
const RING_HEADER = 64;

export interface CtrlResponse {
  id: number;
  type: number;
  status: number;
  data: number;
}

export class CtrlFrontendError extends NetbackError {}

export interface SimCtrlFrontendOptions {
  domid: number;
  backendDomid: number;
  grants: SimGrantTable;
  channels: SimEventChannels;
  /** Initial ring indices (exercise wrap). */
  start?: number;
}

export class SimCtrlFrontend {
  readonly ring: SharedRing;
  readonly port: SimPort;
  /** Every response seen, in ring order. */
  readonly responses: CtrlResponse[] = [];
  private readonly options: SimCtrlFrontendOptions;
  private reqProdPvt: number;
  private rspCons: number;
  private nextId = 1;
  private readonly waiting = new Map<number, (rsp: CtrlResponse) => void>();
  private closed = false;

  constructor(options: SimCtrlFrontendOptions) {
    this.options = options;
    const ref = options.grants.grantAccess(options.domid, options.backendDomid, false);
    this.ring = new SharedRing(options.grants, options.domid, ref, CTRL_ENTRY_SIZE);
    const start = options.start ?? 0;
    this.ring.init(start);
    this.reqProdPvt = start;
    this.rspCons = start;
    this.port = options.channels.allocUnbound(options.domid, options.backendDomid, () => this.interrupt());
  }

  /** The frontend keys that announce the ring. */
  keys(): Record<string, string> {
    return { 'ctrl-ring-ref': String(this.ring.ref), 'event-channel-ctrl': String(this.port.localPort) };
  }

  /**
   * Queues one request without publishing it (see publish()); returns its id. Raw access for
   * tests that batch requests or write hostile ones.
   */
  write(type: number, data: [number, number, number] = [0, 0, 0], id = this.takeId()): number {
    const page = this.ring.view();
    const at = slotOffset(this.reqProdPvt);
    page.setUint16(at, id, true);
    page.setUint16(at + 2, type, true);
    page.setUint32(at + 4, data[0] >>> 0, true);
    page.setUint32(at + 8, data[1] >>> 0, true);
    page.setUint32(at + 12, data[2] >>> 0, true);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
    return id;
  }

  /** Publishes the written requests and notifies when the backend asked for it. */
  publish(): void {
    if (this.ring.pushRequests(this.reqProdPvt)) this.port.notify();
  }

  /** One request, published; resolves with its response. */
  request(type: number, data: [number, number, number] = [0, 0, 0]): Promise<CtrlResponse> {
    if (this.closed) throw new CtrlFrontendError('NETBACK_SIM_CTRL_CLOSED', 'control ring closed');
    if (((this.reqProdPvt - this.rspCons) >>> 0) >= CTRL_RING_SIZE) throw new CtrlFrontendError('NETBACK_SIM_CTRL_FULL', 'control ring full');
    const id = this.write(type, data);
    const done = new Promise<CtrlResponse>((resolve) => this.waiting.set(id, resolve));
    this.publish();
    return done;
  }

  async setAlgorithm(algorithm: number): Promise<CtrlResponse> {
    return this.request(CTRL_TYPE.SET_HASH_ALGORITHM, [algorithm, 0, 0]);
  }

  async setFlags(flags: number): Promise<CtrlResponse> {
    return this.request(CTRL_TYPE.SET_HASH_FLAGS, [flags, 0, 0]);
  }

  /** Grants a page holding the key, asks, revokes. `len` defaults to the key's length. */
  async setKey(key: Uint8Array, len = key.length): Promise<CtrlResponse> {
    return this.withPage(key, (ref) => this.request(CTRL_TYPE.SET_HASH_KEY, [ref, len, 0]));
  }

  async setMappingSize(size: number): Promise<CtrlResponse> {
    return this.request(CTRL_TYPE.SET_HASH_MAPPING_SIZE, [size, 0, 0]);
  }

  /** Grants a page holding `entries` (u32 each), asks to store them at `offset`, revokes. */
  async setMapping(entries: number[], offset = 0, len = entries.length): Promise<CtrlResponse> {
    const bytes = new Uint8Array(entries.length * 4);
    const view = new DataView(bytes.buffer);
    entries.forEach((e, i) => view.setUint32(i * 4, e >>> 0, true));
    return this.withPage(bytes, (ref) => this.request(CTRL_TYPE.SET_HASH_MAPPING, [ref, len, offset]));
  }

  /** Reads every response published so far (RING_COPY_RESPONSE-style private copies). */
  poll(): void {
    for (;;) {
      const prod = this.ring.rspProd;
      while (this.rspCons !== prod) {
        const slot = this.ring.view();
        const at = slotOffset(this.rspCons);
        const rsp: CtrlResponse = {
          id: slot.getUint16(at, true), type: slot.getUint16(at + 2, true),
          status: slot.getUint32(at + 4, true), data: slot.getUint32(at + 8, true),
        };
        this.rspCons = (this.rspCons + 1) >>> 0;
        this.responses.push(rsp);
        const resolve = this.waiting.get(rsp.id);
        this.waiting.delete(rsp.id);
        resolve?.(rsp);
      }
      if (!this.ring.finalCheckForResponses(this.rspCons)) return;
    }
  }

  /** Revokes the ring and closes the port (after the backend let go of the ring). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    this.options.grants.endAccess(this.options.domid, this.ring.ref);
  }

  private interrupt(): void {
    this.poll();
    this.port.unmask();
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xFFFF;
    return id;
  }

  private async withPage(contents: Uint8Array, body: (ref: number) => Promise<CtrlResponse>): Promise<CtrlResponse> {
    const { grants, domid, backendDomid } = this.options;
    const ref = grants.grantAccess(domid, backendDomid, true, contents);
    try {
      return await body(ref);
    } finally {
      grants.endAccess(domid, ref);
    }
  }
}

function slotOffset(index: number): number {
  return RING_HEADER + ((index >>> 0) & (CTRL_RING_SIZE - 1)) * CTRL_ENTRY_SIZE;
}
