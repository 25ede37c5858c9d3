import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    // import.meta.url locates build/Release/zipserv_cuda.node from dist/ in the CJS build too.
    shims: true,
  },
  {
    entry: ['src/bench.ts'],
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
  },
]);
