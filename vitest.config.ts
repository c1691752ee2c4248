import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The project's tests, and any a user keeps beside their workflows.
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', 'cdk.out/**', '.hourglass/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
