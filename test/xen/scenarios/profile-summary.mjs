// Prints the hottest functions (self time) of the daemon's V8 CPU profiles, for `PROFILE=1 npm run
// test:xen`: the serial log is the only way out of the test bed, so the summary travels in it.
//   node profile-summary.mjs DIR [TOP]
import { readdirSync, readFileSync } from 'node:fs';

const [dir, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 30);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTicks = new Map();
  for (const id of profile.samples) selfTicks.set(id, (selfTicks.get(id) ?? 0) + 1);
  const byFunction = new Map();
  for (const [id, ticks] of selfTicks) {
    const { callFrame } = byId.get(id);
    const where = callFrame.url === '' ? '' : ` ${callFrame.url.replace(/^.*\/(dist|node:internal)\//, '$1/')}:${callFrame.lineNumber + 1}`;
    const key = `${callFrame.functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + ticks);
  }
  const total = profile.samples.length;
  console.log(`PROFILE ${file}: ${total} samples over ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s`);
  for (const [key, ticks] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`PROFILE ${(100 * ticks / total).toFixed(1).padStart(5)}% ${key}`);
  }
}
