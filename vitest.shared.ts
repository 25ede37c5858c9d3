// Tests import workspace packages from their TypeScript sources (the "@zipserv/source" export
// condition), so `vitest run` needs no prior build of sibling packages.
import { defineConfig } from 'vitest/config';

// Vite's default server conditions, with ours first.
export const sourceConditions = ['@zipserv/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
});
