// An in-process Ethernet bridge between vifs, for where no TAP can be had (tests, the `sim`
// command, the browser): it learns source MACs, forwards unicast to the learned port and floods
// broadcast, multicast and unknown destinations, like a Linux bridge with no STP. Frames keep
// their virtio_net_hdr end to end, so a GSO or checksum-partial frame from one guest reaches the
// other vif exactly as a TAP would hand it over, and that vif adapts it to its own frontend.

import type { PacketPort, PacketReceiver } from '../backend/datapath.js';
import type { SinkOffloads } from '../backend/sink.js';
import { VNET_HDR_SIZE } from '../backend/vnet-header.js';
import type { NetworkInterfaceFactory } from '../backend/vif.js';
import { NetbackError } from '../errors.js';

export interface BridgeStats {
  forwarded: number;
  flooded: number;
  dropped: number;
}

const MAC_AGE_LIMIT = 4096; // learned addresses kept; a flood of source MACs cannot grow memory

export class SoftwareBridge {
  readonly stats: BridgeStats = { forwarded: 0, flooded: 0, dropped: 0 };
  private readonly ports = new Set<BridgePort>();
  private readonly learned = new Map<string, BridgePort>();

  /** Adds a port; the returned sink is what the vif transmits into. */
  attach(name: string, receiver?: PacketReceiver, owner?: string): BridgePort {
    const port = new BridgePort(this, name, owner);
    if (receiver !== undefined) port.setReceiver(receiver);
    this.ports.add(port);
    return port;
  }

  /** Port names attached now. */
  portNames(): string[] {
    return [...this.ports].map((port) => port.name);
  }

  /**
   * A NetworkInterfaceFactory whose interfaces are ports of this bridge (what `sim` uses instead
   * of TAPs). Like the daemon's persistent TAPs, a port whose backend died (abandon()) stays on
   * the bridge and is handed back, adopted, to the next backend that creates it for the same owner.
   */
  interfaces(): NetworkInterfaceFactory {
    return {
      create: async (name, { owner }) => {
        const existing = [...this.ports].find((port) => port.name === name);
        if (existing === undefined) return this.attach(name, undefined, owner);
        if (existing.abandoned && existing.owner === owner) return existing.adopt();
        throw new BridgePortExistsError(name);
      },
    };
  }

  /** @internal */
  detach(port: BridgePort): void {
    this.ports.delete(port);
    for (const [mac, owner] of this.learned) if (owner === port) this.learned.delete(mac);
  }

  /** @internal */
  forward(from: BridgePort, bytes: Uint8Array, offset: number, length: number): boolean {
    // a port without carrier is disabled: it neither sends nor receives (br_port_carrier_check)
    if (length < VNET_HDR_SIZE + 14 || !from.carrier) {
      this.stats.dropped++;
      return false;
    }
    const frame = bytes.subarray(offset, offset + length);
    const destination = macKey(frame, VNET_HDR_SIZE);
    const source = macKey(frame, VNET_HDR_SIZE + 6);
    if ((frame[VNET_HDR_SIZE + 6]! & 1) === 0) this.learn(source, from);
    const target = (frame[VNET_HDR_SIZE]! & 1) === 0 ? this.learned.get(destination) : undefined;
    if (target !== undefined) {
      if (target === from) return true; // a frame for its own segment goes nowhere
      if (!target.carrier) {
        this.stats.dropped++;
        return false;
      }
      this.stats.forwarded++;
      return target.deliver(frame.slice());
    }
    this.stats.flooded++;
    for (const port of this.ports) if (port !== from && port.carrier) port.deliver(frame.slice());
    return true;
  }

  private learn(mac: string, port: BridgePort): void {
    if (this.learned.get(mac) === port) return;
    if (this.learned.size >= MAC_AGE_LIMIT) {
      const oldest = this.learned.keys().next().value;
      if (oldest !== undefined) this.learned.delete(oldest);
    }
    this.learned.set(mac, port);
  }
}

function macKey(frame: Uint8Array, at: number): string {
  let key = '';
  for (let i = 0; i < 6; i++) key += frame[at + i]!.toString(16).padStart(2, '0');
  return key;
}

export class BridgePort implements PacketPort {
  /** The bridge carries every offload through, as a TAP with TUNSETOFFLOAD csum|tso4|tso6 does. */
  readonly offloads: SinkOffloads = { csum: true, tso4: true, tso6: true };
  readonly sink = this;
  delivered = 0;
  dropped = 0;
  /** Link state: the vif's data path turns it off while the guest is not receiving. */
  carrier = true;
  /** Its backend died without closing it (see SoftwareBridge.interfaces). */
  abandoned = false;
  /** Handed to a later backend after abandon(). */
  adopted = false;
  private receiver: PacketReceiver | undefined;

  /** @internal */
  constructor(private readonly bridge: SoftwareBridge, readonly name: string, readonly owner?: string) {}

  setReceiver(receiver: PacketReceiver | undefined): void {
    this.receiver = receiver;
  }

  setCarrier(on: boolean): void {
    this.carrier = on;
  }

  transmit(bytes: Uint8Array, offset: number, length: number): boolean {
    return this.bridge.forward(this, bytes, offset, length);
  }

  /** @internal */
  deliver(frame: Uint8Array): boolean {
    const receiver = this.receiver;
    if (receiver === undefined || !receiver.receive(frame)) {
      this.dropped++;
      return false;
    }
    this.delivered++;
    receiver.wake();
    return true;
  }

  async close(): Promise<void> {
    this.receiver = undefined;
    this.bridge.detach(this);
  }

  abandon(): void {
    this.receiver = undefined;
    this.abandoned = true;
  }

  /** @internal */
  adopt(): this {
    this.abandoned = false;
    this.adopted = true;
    return this;
  }
}

export class BridgePortExistsError extends NetbackError {
  constructor(name: string) {
    super('NETBACK_BRIDGE_PORT_EXISTS', `bridge port ${name} exists`);
  }
}
