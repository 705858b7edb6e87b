// Loaded with `node --import` (or NODE_OPTIONS=--import=) into a process under test. Each time the
// process instantiates a Wasm module, the probe compiles a one-function module of its own, calls
// it once and asks V8 which tier ran it: Liftoff (the baseline compiler, V8's default for a first
// call) or TurboFan (what `--no-liftoff` asks for). At exit it writes to stderr one line
//   wasm-tier-probe {"execArgv": [...], "tiers": ["turbofan", ...]}
// with one tier per instantiation, so a test sees the flags in force when the kernels were made.
// V8's own test natives answer (%IsLiftoffFunction, %IsTurboFanFunction).
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--allow-natives-syntax');
const isLiftoff = new Function('f', 'return %IsLiftoffFunction(f)');
const isTurboFan = new Function('f', 'return %IsTurboFanFunction(f)');
// (module (func (export "f") (result i32) i32.const 42))
const ANSWER = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00,
  0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b,
]);

function tierNow() {
  const f = new WebAssembly.Instance(new WebAssembly.Module(ANSWER)).exports.f;
  if (f() !== 42) return 'broken';
  return isLiftoff(f) ? 'liftoff' : isTurboFan(f) ? 'turbofan' : 'other';
}

const tiers = [];
const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = function (...args) {
  tiers.push(tierNow());
  return instantiate.apply(this, args);
};
process.on('exit', () => {
  const execArgv = process.execArgv.filter((a, i, all) => a !== '--import' && all[i - 1] !== '--import' && !a.startsWith('--import='));
  process.stderr.write(`wasm-tier-probe ${JSON.stringify({ execArgv, tiers })}\n`);
});
