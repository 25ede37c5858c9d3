// SharedBufferPool: compress reuses a few shared buffers instead of first-touching a new one per tensor.

import { describe, expect, it } from 'vitest';
import { SharedBufferPool } from '../src/model/buffer-pool.js';

describe('SharedBufferPool', () => {
  it('hands back the smallest free buffer that fits, as an exact-length view', () => {
    const pool = new SharedBufferPool(3);
    const big = pool.take(1000);
    const small = pool.take(100);
    expect(big.byteLength).toBe(1000);
    expect(big.buffer).toBeInstanceOf(SharedArrayBuffer);
    const bigBuf = big.buffer;
    const smallBuf = small.buffer;
    pool.give(big);
    pool.give(small);
    const again = pool.take(90);
    expect(again.buffer).toBe(smallBuf); // smallest that fits
    expect(again.byteLength).toBe(90);
    expect(pool.take(500).buffer).toBe(bigBuf);
    expect(pool.take(2000).buffer).not.toBe(bigBuf); // nothing free fits: a new one
  });

  it('keeps at most `keep` free buffers, the largest, and ignores double returns and non-shared views', () => {
    const pool = new SharedBufferPool(2);
    const views = [10, 20, 30].map((n) => pool.take(n));
    for (const v of views) pool.give(v);
    pool.give(views[2]!);
    pool.give(new Uint8Array(40));
    const a = pool.take(1);
    const b = pool.take(1);
    expect(new Set([a.buffer, b.buffer])).toEqual(new Set([views[1]!.buffer, views[2]!.buffer]));
    expect(pool.take(1).buffer).not.toBe(views[0]!.buffer); // the smallest was dropped
  });
});
