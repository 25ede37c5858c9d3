// Public types of the conformance suite. The harness is structural, so codec-ref has no runtime
// dependency on vitest: pass vitest's { describe, it, expect }, or a ten-line shim anywhere else.

import type { ZipservBackendV1 } from '@zipserv/format';
import type { ConformanceCaseId } from './case-ids.js';

/** What a harness may pass to a test: vitest's test context has `skip(note)`, which marks the test skipped. */
export interface ConformanceTestContext {
  skip?: (note?: string) => void;
}

export type ConformanceTestFn = (context?: ConformanceTestContext) => Promise<void>;

export interface ConformanceHarness {
  describe(name: string, fn: () => void): void;
  it: {
    (name: string, fn: ConformanceTestFn, timeoutMs?: number): void;
    skip(name: string, fn?: ConformanceTestFn): void;
  };
  /** Accepted for symmetry with vitest; not needed: failures throw errors naming the case and seed. */
  expect?: unknown;
  /** When given, the suite disposes its backends after the last case. */
  afterAll?(fn: () => unknown): void;
}

/** Relative-error bounds (||got - want|| / ||want||, float64) per comparison. */
export interface ConformanceTolerances {
  /** matmul vs the float64 product of the inputs the backend multiplies (x BF16-rounded iff the backend says so). */
  matmul: number;
  /** matmul vs the float64 product of the unrounded f32 x: default 1e-2 for BF16-input backends, 1e-5 otherwise. */
  matmulExact: number;
  rmsnorm: number;
  rope: number;
  attention: number;
  siluMul: number;
  add: number;
  /** Outputs of the multi-op graph cases vs the reference backend at the same matmul input precision. */
  graph: number;
}

export interface ConformanceOptions {
  /** Shown in the describe title, e.g. 'cuda'. */
  name: string;
  /** Called once, by the first case that runs; the backend is shared by all cases (and disposed via harness.afterAll if given). */
  createBackend: () => Promise<ZipservBackendV1>;
  /** Cases to skip, each with its reason: reported as skipped with the reason in the title. */
  skips?: Partial<Record<ConformanceCaseId, string>>;
  /** When set, the backend cannot run here (no GPU, addon not built): every case is skipped with this reason. */
  unavailable?: string | null;
  tolerance?: Partial<ConformanceTolerances>;
  /** Base seed (default: ZIPSERV_CONFORMANCE_SEED from the environment, else a fresh random seed). */
  seed?: number;
  /** Per-case timeout passed to `it` (default: the harness's). */
  timeoutMs?: number;
}
