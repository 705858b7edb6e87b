// Builds build/libfuzzer-pipe (test/fuzz/engine/libfuzzer-pipe.c linked with LLVM's libFuzzer from
// Debian's libfuzzer-14-dev). Without libFuzzer it says so and exits 0: only the coverage-guided
// runs need it; npm test and the seeded runner do not.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const libFuzzer = ['/usr/lib/llvm-14/lib/libFuzzer.a', '/usr/lib/llvm-15/lib/libFuzzer.a', '/usr/lib/llvm-16/lib/libFuzzer.a'].find(existsSync);
if (libFuzzer === undefined) {
  console.log('build-engine: no libFuzzer.a (apt-get install libfuzzer-14-dev): build/libfuzzer-pipe not built');
  process.exit(0);
}
execFileSync('g++', ['-x', 'c', '-O1', '-c', 'test/fuzz/engine/libfuzzer-pipe.c', '-o', 'build/libfuzzer-pipe.o'], { stdio: 'inherit' });
execFileSync('g++', ['build/libfuzzer-pipe.o', libFuzzer, '-lpthread', '-o', 'build/libfuzzer-pipe'], { stdio: 'inherit' });
console.log(`build-engine: build/libfuzzer-pipe (${libFuzzer})`);
