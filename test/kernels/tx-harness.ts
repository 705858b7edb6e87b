// Shared setup for the guest-TX kernel tests: one compiled module, a fresh instance per test,
// the test grant table, the test frontend, and helpers that state expected responses from the
// frontend's own record of what it sent.

import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels, type KernelBuild } from '../../src/wasm/node-source.js';
import { TxRingKernel, type TxBuildOptions, type TxBuildResult, type TxCommitResult } from '../../src/wasm/tx-ring.js';
import { TestGrantTable, type ExecuteOptions } from '../support/grant-table.js';
import { RSP_NULL, TxFrontend, type SentPacket, type TxResponse } from '../support/tx-frontend.js';

const modules = new Map<KernelBuild, Promise<WebAssembly.Module>>();

export interface Harness {
  instance: KernelInstance;
  grants: TestGrantTable;
  fe: TxFrontend;
  tx: TxRingKernel;
}

export async function harness(start = 0, build: KernelBuild = 'release'): Promise<Harness> {
  let module = modules.get(build);
  if (module === undefined) {
    module = readKernels(build).then((bytes) => compileKernels(bytes));
    modules.set(build, module);
  }
  const instance = await instantiateKernels(await module);
  const grants = new TestGrantTable();
  const fe = new TxFrontend(instance, grants, start);
  const tx = new TxRingKernel(instance);
  tx.attach();
  return { instance, grants, fe, tx };
}

export interface BatchOutcome {
  built: TxBuildResult;
  committed: TxCommitResult;
  responses: TxResponse[];
}

/** build → execute the plan on the test grant table → commit → read responses. */
export function batch(h: Harness, options: TxBuildOptions = {}, execute: ExecuteOptions = {}): BatchOutcome {
  const built = h.tx.build(options);
  h.grants.execute(h.instance, h.tx.opsAddress, built.ops, execute);
  const committed = h.tx.commit();
  return { built, committed, responses: h.fe.responses() };
}

/** A response as the frontend sees it: NULL slots carry no id (Linux writes only their status). */
export type Answer = { index: number; id?: number; status: number };

export function answers(responses: TxResponse[]): Answer[] {
  return responses.map((r) => (r.status === RSP_NULL ? { index: r.index, status: r.status } : { index: r.index, id: r.id, status: r.status }));
}

/** The answers a packet should get: `dataStatus` on data slots (per slot if an array), NULL on extras, in slot order. */
export function expectedAnswers(sent: SentPacket, dataStatus: number | number[]): Answer[] {
  const out: Answer[] = [];
  sent.dataIndices.forEach((index, i) => out.push({ index, id: sent.ids[i]!, status: Array.isArray(dataStatus) ? dataStatus[i]! : dataStatus }));
  for (const index of sent.extraIndices) out.push({ index, status: RSP_NULL });
  return out.sort((a, b) => ((a.index - sent.first) >>> 0) - ((b.index - sent.first) >>> 0));
}

export function counter(instance: KernelInstance, name: string): number {
  const base = instance.constant('COUNTERS_OFFSET');
  return Number(instance.view.getBigUint64(base + instance.constant(`COUNTER_${name.toUpperCase()}`) * 8, true));
}

export function status(instance: KernelInstance, name: string): number {
  return instance.constant(`STATUS_${name}`);
}
