import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start local wire-level servers; the machines are shared and slow at times,
    // so time limits are generous and no test asserts on elapsed time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // In CI a JSON report lets .ci/run print one plain 'N passed, N failed' closing line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.vitest-results.json' }]] : ['default'],
    // Google clients otherwise probe the GCE metadata server (absent here) for a project id.
    env: { METADATA_SERVER_DETECTION: 'none' },
  },
});
