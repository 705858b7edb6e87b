// Shared pieces of the engine tests: a SimHost on a manual clock, frame addressing, collectors.
import { afterEach, expect } from 'vitest';
import { compileKernels, readKernels } from '../../src/index.js';
import type { KernelBuild } from '../../src/wasm/node-source.js';
import { SimHost, type SimHostOptions } from '../../src/sim/host.js';
import { ManualClock } from '../../src/xen/sim/clock.js';
import type { NetfrontPacket } from '../../src/xen/sim/netfront.js';
import { buildFrame } from '../reference/frames.js';

const compiled = new Map<KernelBuild, WebAssembly.Module>();

/** The compiled kernels: the release build, or the debug build (assertions kept). */
export async function kernels(build: KernelBuild = 'release'): Promise<WebAssembly.Module> {
  let module = compiled.get(build);
  if (module === undefined) {
    module = await compileKernels(await readKernels(build));
    compiled.set(build, module);
  }
  return module;
}

export async function manualHost(options: Partial<SimHostOptions> = {}): Promise<{ host: SimHost; clock: ManualClock }> {
  const clock = new ManualClock();
  const host = new SimHost({ kernels: await kernels(), clock, features: { maxQueues: 4 }, ...options });
  await host.start();
  return { host, clock };
}

/**
 * manualHost() for a test file: each test's host is closed after it and must leave no page mapped.
 */
export function useManualHosts(): (options?: Partial<SimHostOptions>) => Promise<{ host: SimHost; clock: ManualClock }> {
  let current: { host: SimHost; clock: ManualClock } | undefined;
  afterEach(async () => {
    if (current === undefined) return;
    const { host } = current;
    current = undefined;
    await host.close();
    expect(host.grants.mappedPages()).toBe(0);
  });
  return async (options = {}) => {
    current = await manualHost(options);
    return current;
  };
}

/**
 * A SimHost factory for a test file on the system clock: each test's host is closed after it, and
 * must leave no page mapped and no backend port open.
 */
export function useSimHosts(options: Partial<SimHostOptions> = {}): () => Promise<SimHost> {
  let host: SimHost | undefined;
  afterEach(async () => {
    if (host === undefined) return;
    const current = host;
    host = undefined;
    await current.close();
    expect(current.grants.mappedPages()).toBe(0);
    expect(current.channels.openPorts(current.backendDomid)).toBe(0);
  });
  return async () => {
    host = new SimHost({ kernels: await kernels(), features: { maxQueues: 4 }, ...options });
    await host.start();
    return host;
  };
}

export const MAC1 = [0x00, 0x16, 0x3e, 0, 1, 0];
export const MAC2 = [0x00, 0x16, 0x3e, 0, 2, 0];
export const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

export function addressed(frame: Uint8Array, dst: number[], src: number[]): Uint8Array {
  const copy = frame.slice();
  copy.set(dst, 0);
  copy.set(src, 6);
  return copy;
}

/** A UDP/IPv4 frame of exactly `length` bytes with a full checksum. */
export function udpFrame(length: number, dst = MAC2, src = MAC1, seed = 1): Uint8Array {
  return addressed(buildFrame({ ip: 4, l4: 'udp', payload: length - 14 - 20 - 8, checksum: 'full', seed }).frame, dst, src);
}

/** A frame of a local experimental ethertype (0x88b5): not IP, so it always lands on queue 0. */
export function rawFrame(dst: number[], src: number[], length = 60, fill = 0x5a): Uint8Array {
  const frame = new Uint8Array(length).fill(fill);
  frame.set(dst, 0);
  frame.set(src, 6);
  frame[12] = 0x88;
  frame[13] = 0xb5;
  return frame;
}

export function collect(host: SimHost, domid: number): NetfrontPacket[] {
  const got: NetfrontPacket[] = [];
  host.guests.get(domid)!.netfront.on('receive', (packet) => got.push(packet));
  return got;
}
