// `pnpm --filter @zipserv/backend-cuda bench [--shapes S] [--ns 1,2,4] [--repeats R] [--sweep] [--json PATH]`:
// the GEMM kernels' benchmark (zipgemm, dense, cuBLAS, decompress+cuBLAS, auto) on this machine's GPU.
// The kernels print their table; the JSON report goes to --json (default bench/results/zipgemm-local.json).

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runGemmBench } from './bench-gemm.js';
import { cudaBackendProvider } from './provider.js';

const { values } = parseArgs({
  options: {
    shapes: { type: 'string' },
    ns: { type: 'string' },
    repeats: { type: 'string' },
    iters: { type: 'string' },
    seed: { type: 'string' },
    sweep: { type: 'boolean', default: false },
    'no-correctness': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

// The root `pnpm run bench` runs every backend's bench: on a machine without a usable GPU this one
// says why and steps aside (exit 0) instead of failing the whole run.
const unavailable = await cudaBackendProvider.unavailableReason();
if (unavailable !== null) {
  console.log(`cuda bench skipped: ${unavailable}`);
  process.exit(0);
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const jsonPath = resolve(values.json ?? resolve(repoRoot, 'bench/results/zipgemm-local.json'));
mkdirSync(dirname(jsonPath), { recursive: true });
try {
  runGemmBench({
    ...(values.shapes ? { shapes: values.shapes } : {}),
    ...(values.ns ? { ns: values.ns } : {}),
    ...(values.repeats ? { repeats: Number(values.repeats) } : {}),
    ...(values.iters ? { itersPerRepeat: Number(values.iters) } : {}),
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    sweep: values.sweep,
    correctness: !values['no-correctness'],
    jsonPath,
  });
  console.log(`wrote ${jsonPath}`);
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
}
