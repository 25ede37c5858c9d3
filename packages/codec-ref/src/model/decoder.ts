// The decoder a model operation uses: a worker pool's, or the in-thread one.

import type { TcaTbeMatrix } from '@zipserv/format';
import { EncoderPool, decodeMatrix } from '../codec/index.js';
import type { MatrixDecoder } from './container-file.js';

export interface PoolOptions {
  /** Worker threads (default: all cores). Ignored when `pool` is given. */
  threads?: number;
  /** A pool to use (not closed); by default one is made and closed. */
  pool?: EncoderPool;
}

/** Runs `work` with a pool (the caller's, or a new one closed afterwards). */
export async function withPool<T>(options: PoolOptions, work: (pool: EncoderPool) => Promise<T>): Promise<T> {
  if (options.pool) return work(options.pool);
  const pool = new EncoderPool(options.threads === undefined ? {} : { threads: options.threads });
  try {
    return await work(pool);
  } finally {
    await pool.close();
  }
}

export const poolDecoder =
  (pool: EncoderPool): MatrixDecoder =>
  (m: TcaTbeMatrix) =>
    pool.decode(m);

export const inThreadDecoder: MatrixDecoder = async (m: TcaTbeMatrix) => decodeMatrix(m);
