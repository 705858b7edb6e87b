import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // npm run test:package runs these (root, Debian chroots, the built packages): test/package/vitest.config.ts
    exclude: [...configDefaults.exclude, 'test/package/**'],
    testTimeout: 60_000,
  },
});
