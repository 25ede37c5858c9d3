// defineConformanceSuite: registers one test per case, comparing the backend under test with the
// reference backend (or with float64 math) on fresh random inputs.
//
// Registration is synchronous (vitest collects tests only while the file's module runs, so a suite
// registered after an `await` would silently vanish): explicit skips and `unavailable` are `it.skip`
// with the reason in the title. The backend is created by the first case that runs; a case needing an
// op, weight path or dtype missing from its capabilities then skips itself with the reason through
// the test context's `skip(note)` (vitest), or throws a ConformanceSkip for runners without one.

import type { ZipservBackendV1 } from '@zipserv/format';
import { createRefBackend } from '../backend/ref-backend.js';
import { createRng, hashString, randomSeed } from '../reference/prng.js';
import { ConformanceSkip } from './assertions.js';
import { CONFORMANCE_CASE_IDS, type ConformanceCaseId } from './case-ids.js';
import { type ConformanceCase, makeContext } from './case.js';
import { apiCases } from './cases/api.js';
import { decompressCases } from './cases/decompress.js';
import { elementwiseCases } from './cases/elementwise.js';
import { embeddingCases } from './cases/embedding.js';
import { graphCases } from './cases/graph.js';
import { kvAttentionCases } from './cases/kv-attention.js';
import { matmulCases } from './cases/matmul.js';
import { rmsnormCases } from './cases/rmsnorm.js';
import { ropeCases } from './cases/rope.js';
import type { ConformanceHarness, ConformanceOptions, ConformanceTestContext, ConformanceTolerances } from './types.js';

/** Every case, in the order they run. */
export const CONFORMANCE_CASES: readonly ConformanceCase[] = [
  ...apiCases,
  ...decompressCases,
  ...embeddingCases,
  ...matmulCases,
  ...rmsnormCases,
  ...ropeCases,
  ...kvAttentionCases,
  ...elementwiseCases,
  ...graphCases,
];

export function defaultTolerances(matmulInputPrecision: 'f32' | 'bf16'): ConformanceTolerances {
  return {
    matmul: 1e-5,
    matmulExact: matmulInputPrecision === 'bf16' ? 1e-2 : 1e-5,
    rmsnorm: 1e-5,
    rope: 1e-5,
    attention: 1e-4,
    siluMul: 1e-5,
    add: 1e-6,
    graph: matmulInputPrecision === 'bf16' ? 1e-2 : 1e-4,
  };
}

/** The reason a case cannot run on a backend with these capabilities, or null. */
export function unsupportedReason(c: ConformanceCase, caps: ZipservBackendV1['capabilities']): string | null {
  const ops = c.ops.filter((op) => !caps.ops.includes(op));
  if (ops.length > 0) return `op${ops.length > 1 ? 's' : ''} ${ops.map((o) => `'${o}'`).join(', ')} not in capabilities.ops`;
  const paths = (c.paths ?? []).filter((p) => !caps.weightPaths.includes(p));
  if (paths.length > 0) return `weight path${paths.length > 1 ? 's' : ''} ${paths.map((p) => `'${p}'`).join(', ')} not in capabilities.weightPaths`;
  const dtypes = (c.dtypes ?? []).filter((d) => !caps.dtypes.includes(d));
  if (dtypes.length > 0) return `dtype ${dtypes.map((d) => `'${d}'`).join(', ')} not in capabilities.dtypes`;
  return null;
}

function envSeed(): number | undefined {
  const raw = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.ZIPSERV_CONFORMANCE_SEED;
  if (raw === undefined || raw === '') return undefined;
  const seed = Number(raw);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`ZIPSERV_CONFORMANCE_SEED must be an integer 0..4294967295, got '${raw}'`);
  return seed;
}

function skipCase(context: ConformanceTestContext | undefined, reason: string): never {
  context?.skip?.(reason); // vitest's skip throws to end the test
  throw new ConformanceSkip(reason);
}

/**
 * Registers the conformance suite for one backend, synchronously (awaiting the result is harmless):
 *
 *   defineConformanceSuite({ describe, it, expect, afterAll }, { name: 'mine', createBackend: () => createMine() });
 */
export function defineConformanceSuite(harness: ConformanceHarness, options: ConformanceOptions): Promise<void> {
  const skips: Partial<Record<string, string>> = options.skips ?? {};
  for (const id of Object.keys(skips)) {
    if (!(CONFORMANCE_CASE_IDS as readonly string[]).includes(id)) throw new RangeError(`conformance suite '${options.name}': unknown case id '${id}' in skips (known: ${CONFORMANCE_CASE_IDS.join(', ')})`);
  }
  const seed = options.seed ?? envSeed() ?? randomSeed();

  // Shared by all cases: created on first use, so registration needs no await.
  let setup: Promise<{ backend: ZipservBackendV1; ref: ZipservBackendV1; tolerance: ConformanceTolerances }> | null = null;
  let creationReported = false;
  const getSetup = () => {
    setup ??= (async () => {
      const backend = await options.createBackend();
      const precision = backend.capabilities.matmulInputPrecision;
      return { backend, ref: createRefBackend({ matmulInputPrecision: precision }), tolerance: { ...defaultTolerances(precision), ...options.tolerance } };
    })();
    return setup;
  };

  harness.describe(`conformance: ${options.name} vs ref (seed ${seed})`, () => {
    for (const c of CONFORMANCE_CASES) {
      const reason = options.unavailable || skips[c.id as ConformanceCaseId];
      if (reason) {
        harness.it.skip(`${c.id} — skipped: ${reason}`);
        continue;
      }
      const body = async (context?: ConformanceTestContext) => {
        let ready: Awaited<ReturnType<typeof getSetup>>;
        try {
          ready = await getSetup();
        } catch (err) {
          if (creationReported) skipCase(context, 'the backend could not be created (see the first failure)');
          creationReported = true;
          throw new Error(`conformance suite '${options.name}': createBackend failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        const unsupported = unsupportedReason(c, ready.backend.capabilities);
        if (unsupported) skipCase(context, unsupported);
        try {
          await c.run(makeContext(ready.backend, ready.ref, createRng((seed ^ hashString(c.id)) >>> 0), ready.tolerance));
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          const failure = new Error(`${options.name} ${c.id}: ${message} [reproduce with seed ${seed}: options.seed or ZIPSERV_CONFORMANCE_SEED=${seed}]`);
          if (err instanceof Error) failure.name = err.name;
          throw failure;
        }
      };
      if (options.timeoutMs !== undefined) harness.it(`${c.id} — ${c.title}`, body, options.timeoutMs);
      else harness.it(`${c.id} — ${c.title}`, body);
    }
    harness.afterAll?.(async () => {
      if (!setup) return;
      const ready = await setup.catch(() => null);
      if (!ready) return;
      ready.ref.dispose();
      await ready.backend.dispose();
    });
  });
  return Promise.resolve();
}
