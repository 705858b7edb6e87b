import { defineConfig } from 'vitest/config';

// npm run test:package (test/package/run.sh): the packages as users install them. Not part of
// npm test: it needs root, Debian's mirror on the first run, and the packages built first.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/package/**/*.test.ts'],
    testTimeout: 5 * 60_000,
    hookTimeout: 30 * 60_000,
    fileParallelism: false,
  },
});
