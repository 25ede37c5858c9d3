// Bundles gpu-e2e-compare.ts with everything it imports (runtime, codec-ref, format, backend-cuda,
// tokenizers, jinja) into one ESM file for the GPU host, which has no node_modules:
//   node packages/runtime/scripts/bundle-e2e.mjs   ->  .carry/gpu/runtime-e2e.mjs
// Native addons (*.node) stay external; the CUDA backend finds its addon itself (see its README).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
// esbuild comes with tsup (a root devDependency): resolve it through tsup.
const requireFromRoot = createRequire(join(root, 'package.json'));
const esbuild = createRequire(requireFromRoot.resolve('tsup'))('esbuild');

const outfile = process.argv[2] ?? join(root, '.carry', 'gpu', 'runtime-e2e.mjs');
await esbuild.build({
  entryPoints: [join(here, 'gpu-e2e-compare.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Bundle workspace packages from their TypeScript sources, like the tests do.
  conditions: ['@zipserv/source'],
  // backend-cuda is not a dependency of the runtime package: point at it directly.
  alias: { '@zipserv/backend-cuda': join(root, 'packages', 'backend-cuda', 'src', 'index.ts') },
  external: ['*.node'],
  // CommonJS dependencies inside an ESM bundle still call require().
  banner: { js: "import { createRequire as __zsCreateRequire } from 'node:module'; const require = __zsCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
console.log(`wrote ${outfile}`);
