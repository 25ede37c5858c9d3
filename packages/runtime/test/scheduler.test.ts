import { describe, expect, it } from 'vitest';
import { BlockAllocator } from '../src/kv/block-allocator.js';
import { DEFAULT_SAMPLING } from '../src/sampling/sampler.js';
import { Scheduler } from '../src/sched/scheduler.js';
import { Sequence } from '../src/sched/sequence.js';
import { Rng } from '../src/util/rng.js';

let nextId = 1;
const seq = (promptLen: number, maxTokens: number) =>
  new Sequence(nextId++, Array.from({ length: promptLen }, (_, i) => i + 1), maxTokens, DEFAULT_SAMPLING, new Rng(1), new Set(), null, true);

describe('BlockAllocator', () => {
  it('allocates all-or-nothing and frees', () => {
    const a = new BlockAllocator(4);
    expect(a.allocate(3)).toEqual([0, 1, 2]);
    expect(a.allocate(2)).toBeNull();
    expect(a.freeCount).toBe(1);
    a.free([1, 2]);
    expect(a.freeCount).toBe(3);
    expect(() => a.free([9])).toThrow(/not a block/);
  });
});

describe('Scheduler', () => {
  it('decodes every running sequence first, then fills the budget with prefill chunks', () => {
    const alloc = new BlockAllocator(64);
    const s = new Scheduler(alloc, { maxBatch: 4, maxStepTokens: 16, blockSize: 4 });
    const a = seq(10, 4);
    const b = seq(30, 4);
    s.add(a);
    s.add(b);
    let plan = s.plan();
    expect(plan.map((p) => [p.seq.id, p.start, p.count, p.sample])).toEqual([
      [a.id, 0, 10, true],
      [b.id, 0, 6, false],
    ]);
    expect(a.blocks.length).toBe(Math.ceil(14 / 4));
    // Simulate the step: a got its first token, b advanced 6.
    a.numComputed = 10;
    a.tokens.push(99);
    b.numComputed = 6;
    plan = s.plan();
    expect(plan.map((p) => [p.seq.id, p.start, p.count, p.sample])).toEqual([
      [a.id, 10, 1, true],
      [b.id, 6, 15, false],
    ]);
  });

  it('admits FIFO within maxBatch and KV blocks; removal frees blocks and admits the next', () => {
    const alloc = new BlockAllocator(6);
    const s = new Scheduler(alloc, { maxBatch: 2, maxStepTokens: 64, blockSize: 4 });
    const a = seq(8, 4); // 3 blocks
    const b = seq(8, 4); // 3 blocks
    const c = seq(4, 4); // 2 blocks
    s.add(a);
    s.add(b);
    s.add(c);
    s.plan();
    expect(s.running).toEqual([a, b]);
    expect(alloc.freeCount).toBe(0);
    s.remove(a);
    expect(alloc.freeCount).toBe(3);
    s.plan();
    expect(s.running).toEqual([b, c]);
    expect(alloc.freeCount).toBe(1);
    s.remove(b);
    s.remove(c);
    expect(alloc.freeCount).toBe(6);
    expect(s.idle).toBe(true);
  });

  it('refuses a request larger than the whole cache', () => {
    const s = new Scheduler(new BlockAllocator(2), { maxBatch: 2, maxStepTokens: 8, blockSize: 4 });
    expect(() => s.add(seq(8, 4))).toThrow(/needs 3 KV blocks/);
  });
});
