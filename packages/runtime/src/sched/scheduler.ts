// Continuous batching: between steps, waiting requests are admitted (FIFO) when a batch slot and
// KV blocks for their whole life (prompt + maxTokens) are free, and finished ones leave. Each step
// gives every decoding sequence its one token first (latency), then fills the rest of the token
// budget with prefill chunks. Reserving all blocks on admission means a running sequence never
// waits for memory, so there is no preemption.

import type { BlockAllocator } from '../kv/block-allocator.js';
import type { Sequence } from './sequence.js';

export interface SchedulerLimits {
  /** Most sequences in one step. */
  maxBatch: number;
  /** Most token rows in one step (largest bucket). */
  maxStepTokens: number;
  blockSize: number;
}

export interface PlannedChunk {
  seq: Sequence;
  /** First position fed this step (= seq.numComputed). */
  start: number;
  count: number;
  /** The chunk ends the pending tokens: sample a token from its last row. */
  sample: boolean;
}

export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];

  constructor(
    private readonly allocator: BlockAllocator,
    readonly limits: SchedulerLimits,
  ) {
    if (limits.maxBatch > limits.maxStepTokens) throw new RangeError(`maxBatch ${limits.maxBatch} exceeds the step token budget ${limits.maxStepTokens}`);
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0;
  }

  add(seq: Sequence): void {
    const need = seq.blocksNeeded(this.limits.blockSize);
    if (need > this.allocator.numBlocks) {
      throw new RangeError(`request needs ${need} KV blocks (${seq.promptIds.length} prompt + ${seq.maxTokens} new tokens), the cache has ${this.allocator.numBlocks}`);
    }
    this.waiting.push(seq);
  }

  /** Removes a sequence (finished or aborted) and frees its blocks. */
  remove(seq: Sequence): void {
    const r = this.running.indexOf(seq);
    if (r >= 0) this.running.splice(r, 1);
    const w = this.waiting.indexOf(seq);
    if (w >= 0) this.waiting.splice(w, 1);
    if (seq.blocks.length > 0) {
      this.allocator.free(seq.blocks);
      seq.blocks = [];
    }
  }

  /** The next step's chunks, in running order; empty when there is nothing to run. */
  plan(): PlannedChunk[] {
    while (this.waiting.length > 0 && this.running.length < this.limits.maxBatch) {
      const head = this.waiting[0]!;
      const blocks = this.allocator.allocate(head.blocksNeeded(this.limits.blockSize));
      if (!blocks) break; // FIFO: the head waits for memory; later requests do not overtake it
      head.blocks = blocks;
      this.waiting.shift();
      this.running.push(head);
    }
    let budget = this.limits.maxStepTokens;
    const counts = new Map<Sequence, number>();
    for (const seq of this.running) {
      if (seq.pending === 1) {
        counts.set(seq, 1);
        budget--;
      }
    }
    for (const seq of this.running) {
      if (budget <= 0) break;
      if (seq.pending > 1) {
        const n = Math.min(seq.pending, budget);
        counts.set(seq, n);
        budget -= n;
      }
    }
    const plan: PlannedChunk[] = [];
    for (const seq of this.running) {
      const count = counts.get(seq);
      if (!count) continue;
      plan.push({ seq, start: seq.numComputed, count, sample: count === seq.pending });
    }
    return plan;
  }
}
