// One request's state as the scheduler and engine see it.

import type { SamplingParams } from '../sampling/sampler.js';
import type { TextStream } from '../text/text-stream.js';
import type { Rng } from '../util/rng.js';
import type { FinishReason } from '../engine/types.js';

export class Sequence {
  /** Prompt then generated ids. */
  readonly tokens: number[];
  readonly generated: number[] = [];
  /** Tokens whose K/V are in the cache. */
  numComputed = 0;
  /** KV blocks held (allocated on admission for prompt + maxTokens). */
  blocks: number[] = [];
  finished: FinishReason | null = null;
  abortRequested = false;
  /** Teacher forcing (scoreTokens): tokens fed instead of sampled ones, and the logits collected. */
  forced: number[] | null = null;
  readonly collected: Float32Array[] = []; // each [V] f32
  /** Token ids seen so far (repetition penalty). */
  readonly seen: Set<number>;

  // Timing (performance.now() ms) and accounting.
  readonly arrivedAt = performance.now();
  firstScheduledAt = 0;
  firstTokenAt = 0;
  finishedAt = 0;
  steps = 0;
  hostMs = 0;

  constructor(
    readonly id: number,
    readonly promptIds: readonly number[],
    /** Most tokens to generate (already capped to the context). */
    readonly maxTokens: number,
    readonly sampling: SamplingParams,
    readonly rng: Rng,
    readonly stopIds: ReadonlySet<number>,
    readonly text: TextStream | null,
    /** Device argmax is enough (greedy, no penalty). */
    readonly deviceGreedy: boolean,
  ) {
    this.tokens = [...promptIds];
    this.seen = new Set(promptIds);
  }

  /** Tokens not yet in the cache: the whole prompt at first, then the last sampled token. */
  get pending(): number {
    return this.tokens.length - this.numComputed;
  }

  /** Blocks this sequence needs for its whole life. */
  blocksNeeded(blockSize: number): number {
    return Math.ceil((this.promptIds.length + this.maxTokens) / blockSize);
  }
}
