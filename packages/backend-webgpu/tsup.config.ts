import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    // Dawn is optional and loaded lazily in Node only; browsers and Deno never import it.
    external: ['webgpu'],
  },
  {
    // The benchmark, self-contained but for Dawn (so it runs from the GPU-host bundle): codec-ref
    // (a devDependency, for its encoder) and format are bundled in.
    entry: ['src/bench.ts'],
    format: ['esm'],
    sourcemap: true,
    clean: false,
    target: 'node20',
    external: ['webgpu'],
    noExternal: ['@zipserv/codec-ref', '@zipserv/format'],
    esbuildOptions(options) {
      options.conditions = ['@zipserv/source', 'module', 'import'];
    },
  },
]);
