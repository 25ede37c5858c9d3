import { defineConfig } from 'tsup';

export default defineConfig([
  // The package: ESM + CJS + types. The codec's workers need no entry of their own: they are
  // started from the kernels' source text (src/codec/worker-source.ts).
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // The two builds run side by side: each cleans dist except the other's outputs
    // (tsup removes '**/*' minus these negated patterns).
    clean: ['!bench.*'],
    target: 'node20',
  },
  // `pnpm run bench` = node dist/bench.js (ESM only: it uses import.meta.url).
  {
    entry: { bench: 'src/bench.ts' },
    format: ['esm'],
    sourcemap: true,
    clean: ['!index.*'],
    target: 'node20',
  },
]);
