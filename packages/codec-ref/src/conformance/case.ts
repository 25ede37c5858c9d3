// What a conformance case is, and what it gets to run.

import type { DType, OpName, WeightPath, WeightSource, ZipservBackendV1 } from '@zipserv/format';
import { encodeMatrix } from '../codec/index.js';
import type { Rng } from '../reference/prng.js';
import type { ConformanceCaseId } from './case-ids.js';
import { Session, onBoth } from './session.js';
import type { ConformanceTolerances } from './types.js';

export type MatmulPath = Exclude<WeightPath, 'auto'>;

export interface CaseContext {
  backend: ZipservBackendV1;
  /** Reference backend with the same matmul input precision as the backend under test. */
  ref: ZipservBackendV1;
  rng: Rng;
  tolerance: ConformanceTolerances;
  /** Runs `fn` on the backend under test, then on the reference; returns [got, want]. */
  both<T>(fn: (s: Session) => Promise<T>): Promise<[got: T, want: T]>;
  /** Runs `fn` on the backend under test only (for comparisons with host float64 math). */
  onBackend<T>(fn: (s: Session) => Promise<T>): Promise<T>;
}

export interface ConformanceCase {
  id: ConformanceCaseId;
  /** One line: what the case checks. */
  title: string;
  /** Ops the case needs; missing ones skip it automatically. */
  ops: readonly OpName[];
  /** Weight paths the case needs (all of them). */
  paths?: readonly MatmulPath[];
  /** Tensor dtypes the case needs besides f32 and i32. */
  dtypes?: readonly DType[];
  run(ctx: CaseContext): Promise<void>;
}

export function makeContext(backend: ZipservBackendV1, ref: ZipservBackendV1, rng: Rng, tolerance: ConformanceTolerances): CaseContext {
  return {
    backend,
    ref,
    rng,
    tolerance,
    both: (fn) => onBoth(backend, ref, fn),
    async onBackend(fn) {
      const s = new Session(backend);
      try {
        return await fn(s);
      } finally {
        s.close();
      }
    },
  };
}

/** A weight source of BF16 bits [rows, cols] in the given storage (TCA-TBE via the reference encoder). */
export function weightSource(bits: Uint16Array, rows: number, cols: number, storage: 'raw' | 'tca-tbe'): WeightSource {
  return storage === 'raw' ? { storage: 'raw', rows, cols, data: bits } : { storage: 'tca-tbe', matrix: encodeMatrix(bits, rows, cols) };
}

/** The weight storage a matmul path reads. */
export const storageOf = (path: WeightPath, fallback: 'raw' | 'tca-tbe' = 'tca-tbe'): 'raw' | 'tca-tbe' =>
  path === 'zipgemm' || path === 'decompress+vendor' ? 'tca-tbe' : path === 'dense' || path === 'vendor' ? 'raw' : fallback;
