// Runs inside dom0 of the test bed: checks that the CPU keeps a user process's SSE/x87 state while
// other vCPUs and interrupts run, without any Xen device of ours involved. It repeats the kernels'
// SIMD checksum (bench_inet_checksum, the same Wasm SIMD code the daemon runs) and a JS floating
// point sum over fixed inputs and compares every result with the first one; any difference means
// the platform (hypervisor FPU switching or the emulated CPU) changed registers under the process.
// A Wasm trap in that fixed computation (once in CI: "memory access out of bounds", i.e. a SIGSEGV
// at one of the checksum's loads, whose address cannot leave the buffer) is the platform's too: it
// is counted with the mismatches and the probe goes on, to show whether it comes alone or in bursts.
//   node fpu-probe.mjs SECONDS  → prints "FPU-PROBE mismatches=<n> rounds=<n> ..." and exits 0
// The kernels and their loader are the installed package's (WNB_ROOT, default /usr/lib/wasm-netback).
import { readFileSync } from 'node:fs';

const root = process.env.WNB_ROOT ?? '/usr/lib/wasm-netback';
const { compileKernels, instantiateKernels } = await import(`${root}/dist/src/wasm/module.js`);

const seconds = Number(process.argv[2] ?? 30);
const instance = await instantiateKernels(await compileKernels(readFileSync(`${root}/build/netback.wasm`)));
const address = instance.constant('TX_BUF_OFFSET');
const length = 4000;
const bytes = instance.bytes;
for (let i = 0; i < length; i++) bytes[address + i] = (i * 131 + 7) & 0xff;
const checksum = () => instance.call('bench_inet_checksum', address, length, 64) >>> 0;
const floats = () => {
  let s = 0;
  for (let i = 1; i <= 20000; i++) s += Math.sqrt(i) / (i + 0.5) + Math.floor(i / 3.7);
  return s;
};
const wantSum = checksum();
const wantFloat = floats();
let rounds = 0;
let sumMismatches = 0;
let floatMismatches = 0;
let traps = 0;
const first = [];
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  rounds++;
  let s;
  try {
    s = checksum();
  } catch (error) {
    traps++;
    if (first.length < 3) first.push(`trap in round ${rounds}: ${error.message}`);
    continue;
  }
  const f = floats();
  if (s !== wantSum) { sumMismatches++; if (first.length < 3) first.push(`csum ${s} != ${wantSum}`); }
  if (f !== wantFloat) { floatMismatches++; if (first.length < 3) first.push(`float ${f} != ${wantFloat}`); }
}
console.log(`FPU-PROBE mismatches=${sumMismatches + floatMismatches + traps} rounds=${rounds} simd=${sumMismatches} float=${floatMismatches} traps=${traps} ${first.join('; ')}`);
