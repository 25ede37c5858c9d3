// The inference engine: loads a model onto a backend, runs the continuous-batching loop and streams
// tokens to callers.

import { join } from 'node:path';
import type { ZipservBackendV1 } from '@zipserv/format';
import { type BackendChoice, resolveBackend } from '../backends/registry.js';
import { type ModelConfig, parseModelConfig, tokenIdList } from '../config/model-config.js';
import { isSyntheticModel } from '../config/synthetic-configs.js';
import { BucketGraph, type StepEntry } from '../graph/step-graph.js';
import { PagedKvCache } from '../kv/paged-kv-cache.js';
import { type DeviceModel, type LoadProgress, type WeightLoadStats, type WeightMode, loadDeviceModel } from '../model/device-model.js';
import { DirectoryModelSource } from '../model/directory-source.js';
import type { ModelSource } from '../model/model-source.js';
import { SyntheticModelSource } from '../model/synthetic-source.js';
import { DEFAULT_SAMPLING, type SamplingParams, isDeviceGreedy, sample, validateSampling } from '../sampling/sampler.js';
import { type PlannedChunk, Scheduler } from '../sched/scheduler.js';
import { Sequence } from '../sched/sequence.js';
import { type ChatMessage, type ChatTemplate, loadChatTemplate } from '../text/chat-template.js';
import { TextStream } from '../text/text-stream.js';
import { type TextCodec, loadTextCodec, readJsonIfExists } from '../text/tokenizer.js';
import { Channel } from '../util/channel.js';
import { Rng, randomSeed } from '../util/rng.js';
import type { ChatOptions, FinishReason, GenerateRequest, GenerationEvent, GenerationResult, GenerationStats, GenerationStream } from './types.js';

export interface EngineOptions {
  /** A model directory (original Hugging Face or ZipServ-compressed) or `synthetic:NAME`. */
  model: string;
  /** Backend by name ('auto' tries cuda, webgpu, ref), or a backend object you own. Default 'auto'. */
  backend?: BackendChoice;
  /** Options passed to the backend provider's create(). */
  backendOptions?: Record<string, unknown>;
  /** Default 'zipgemm'. */
  weights?: WeightMode;
  /** 'auto' (default): prefill chunks over 64 rows run their matmuls as vendor GEMMs (on decompressed weights in
   *  zipgemm mode, on the BF16 weights in dense mode), decode on the fused kernels; 'zipgemm': the fused kernels
   *  (ZipGEMM, or its dense twin in dense mode) at every step size. */
  zipgemmPath?: 'zipgemm' | 'auto';
  onProgress?: (p: LoadProgress) => void;
  /** Most sequences decoded together. Default 8. */
  maxBatch?: number;
  /** Longest sequence (prompt + output). Default min(4096, max_position_embeddings). */
  maxContext?: number;
  /** Tokens per KV block. Default 16. */
  kvBlockSize?: number;
  /** KV blocks in the pool. Default: enough for maxBatch sequences of maxContext. */
  kvBlocks?: number;
  /** KV cache element type. Default 'f32'. */
  kvDtype?: 'f32' | 'bf16';
  /** Most token rows per step (largest bucket; prefill is chunked to it). Default 256. */
  maxStepTokens?: number;
  /** Encoder threads for compress-on-load. Default: all cores. */
  encoderThreads?: number;
  /** Seed of synthetic weights. */
  syntheticSeed?: number;
}

export interface EngineInfo {
  model: string;
  config: ModelConfig;
  backend: string;
  device: string;
  weights: WeightMode;
  compressedSource: boolean;
  hasTokenizer: boolean;
  hasChatTemplate: boolean;
  maxBatch: number;
  maxContext: number;
  maxStepTokens: number;
  kvBlockSize: number;
  kvBlocks: number;
  kvDtype: 'f32' | 'bf16';
  load: WeightLoadStats;
  weight_bytes: number;
  kv_bytes: number;
}

export interface EngineStepStats {
  steps: number;
  tokens: number;
  /** Mean wall milliseconds per step. */
  step_ms: number;
  /** Mean milliseconds inside graph.run() and the read-back. */
  device_ms: number;
  /** Mean milliseconds per step outside device work (planning, input writes, sampling, streaming). */
  host_overhead_ms: number;
  /** Total milliseconds spent building step graphs (once per bucket), not counted in the means. */
  compile_ms: number;
}

const DEFAULT_MAX_TOKENS = 256;

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const mode = options.weights ?? 'zipgemm';
  if (!['zipgemm', 'dense', 'vendor'].includes(mode)) throw new RangeError(`weights must be zipgemm, dense or vendor, got '${mode}'`);
  const source: ModelSource = isSyntheticModel(options.model)
    ? new SyntheticModelSource(options.model, options.syntheticSeed !== undefined ? { seed: options.syntheticSeed } : {})
    : await DirectoryModelSource.open(options.model);
  let backend: ZipservBackendV1 | null = null;
  let ownsBackend = false;
  try {
    const config = parseModelConfig(source.rawConfig, source.dir ? join(source.dir, 'config.json') : source.description);
    let codec: TextCodec | null = null;
    let template: ChatTemplate | null = null;
    const eos = new Set(config.eosTokenIds);
    if (source.dir) {
      codec = await loadTextCodec(source.dir);
      if (codec) template = await loadChatTemplate(source.dir, codec.config);
      const gen = await readJsonIfExists(join(source.dir, 'generation_config.json'));
      for (const id of tokenIdList(gen?.eos_token_id)) eos.add(id);
    }
    const resolved = await resolveBackend(options.backend ?? 'auto', options.backendOptions);
    backend = resolved.backend;
    ownsBackend = resolved.owned;
    const model = await loadDeviceModel(backend, source, config, {
      mode,
      zipgemmPath: options.zipgemmPath,
      encoderThreads: options.encoderThreads,
      onProgress: options.onProgress,
    });
    return new Engine(options, source, backend, ownsBackend, model, codec, template, eos);
  } catch (err) {
    if (backend && ownsBackend) await backend.dispose();
    throw err;
  } finally {
    await source.close();
  }
}

export class Engine {
  readonly info: EngineInfo;
  private readonly kv: PagedKvCache;
  private readonly scheduler: Scheduler;
  private readonly buckets = new Map<number, BucketGraph>();
  private readonly maxBlocksPerSeq: number;
  private loopRunning = false;
  private disposed = false;
  private nextSeqId = 1;
  private readonly streams = new Map<Sequence, { channel: Channel<GenerationEvent>; resolve: (r: GenerationResult) => void; reject: (e: unknown) => void }>();
  private readonly stepTotals = { steps: 0, tokens: 0, stepMs: 0, deviceMs: 0, compileMs: 0 };

  /** @internal use createEngine() */
  constructor(
    options: EngineOptions,
    source: ModelSource,
    readonly backend: ZipservBackendV1,
    private readonly ownsBackend: boolean,
    private readonly model: DeviceModel,
    readonly textCodec: TextCodec | null,
    readonly chatTemplate: ChatTemplate | null,
    private readonly eosIds: ReadonlySet<number>,
  ) {
    const c = model.config;
    const maxBatch = options.maxBatch ?? 8;
    let maxContext = options.maxContext ?? Math.min(4096, c.maxPositionEmbeddings);
    if (c.slidingWindow !== undefined) maxContext = Math.min(maxContext, c.slidingWindow);
    const kvBlockSize = options.kvBlockSize ?? 16;
    const maxStepTokens = nextPow2(Math.max(options.maxStepTokens ?? 256, maxBatch));
    const positive = (name: string, v: number) => {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    };
    positive('maxBatch', maxBatch);
    positive('maxContext', maxContext);
    positive('kvBlockSize', kvBlockSize);
    this.maxBlocksPerSeq = Math.ceil(maxContext / kvBlockSize);
    const kvBlocks = options.kvBlocks ?? maxBatch * this.maxBlocksPerSeq;
    positive('kvBlocks', kvBlocks);
    const kvDtype = options.kvDtype ?? 'f32';
    if (!backend.capabilities.dtypes.includes(kvDtype)) throw new Error(`backend '${backend.name}' has no ${kvDtype} tensors for the KV cache`);
    try {
      this.kv = new PagedKvCache(backend, { numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim, blockSize: kvBlockSize, numBlocks: kvBlocks, dtype: kvDtype });
    } catch (err) {
      model.free();
      throw err;
    }
    this.scheduler = new Scheduler(this.kv.allocator, { maxBatch, maxStepTokens, blockSize: kvBlockSize });
    this.info = {
      model: options.model,
      config: c,
      backend: backend.name,
      device: backend.capabilities.device,
      weights: model.mode,
      compressedSource: source.compressed,
      hasTokenizer: textCodec !== null,
      hasChatTemplate: chatTemplate !== null,
      maxBatch,
      maxContext,
      maxStepTokens,
      kvBlockSize,
      kvBlocks,
      kvDtype,
      load: model.stats,
      weight_bytes: model.stats.weightBytes,
      kv_bytes: this.kv.bytes,
    };
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  /** Free KV blocks now (tests, monitoring). */
  get freeKvBlocks(): number {
    return this.kv.allocator.freeCount;
  }

  stepStats(): EngineStepStats {
    const s = this.stepTotals;
    const n = Math.max(1, s.steps);
    return { steps: s.steps, tokens: s.tokens, step_ms: s.stepMs / n, device_ms: s.deviceMs / n, host_overhead_ms: (s.stepMs - s.deviceMs) / n, compile_ms: s.compileMs };
  }

  resetStepStats(): void {
    Object.assign(this.stepTotals, { steps: 0, tokens: 0, stepMs: 0, deviceMs: 0, compileMs: 0 });
  }

  /** Token ids of a text (needs tokenizer.json). */
  encode(text: string, addSpecialTokens = true): number[] {
    if (!this.textCodec) throw new Error(`${this.info.model}: no tokenizer.json, so text prompts are not possible; pass token ids`);
    return this.textCodec.encode(text, { addSpecialTokens });
  }

  decode(ids: readonly number[]): string {
    if (!this.textCodec) throw new Error(`${this.info.model}: no tokenizer.json, so ids cannot be decoded`);
    return this.textCodec.decode(ids);
  }

  /** Renders messages with the model's chat template. */
  renderChat(messages: readonly ChatMessage[], variables?: Record<string, unknown>): string {
    if (!this.chatTemplate) throw new Error(`${this.info.model}: no chat template (tokenizer_config.json chat_template or chat_template.jinja)`);
    return this.chatTemplate.render(messages, { addGenerationPrompt: true, extra: variables });
  }

  chat(messages: readonly ChatMessage[], options: ChatOptions = {}): GenerationStream {
    const { templateVariables, ...rest } = options;
    const prompt = this.renderChat(messages, templateVariables);
    // The template writes BOS and the role markers itself.
    return this.generate({ ...rest, promptIds: this.encode(prompt, false) });
  }

  /** Starts a generation; it joins the running batch at the next step. */
  generate(request: GenerateRequest): GenerationStream {
    if (this.disposed) throw new Error('engine is disposed');
    const promptIds = this.promptIds(request);
    const sampling: SamplingParams = {
      temperature: request.temperature ?? DEFAULT_SAMPLING.temperature,
      topK: request.topK ?? DEFAULT_SAMPLING.topK,
      topP: request.topP ?? DEFAULT_SAMPLING.topP,
      minP: request.minP ?? DEFAULT_SAMPLING.minP,
      repetitionPenalty: request.repetitionPenalty ?? DEFAULT_SAMPLING.repetitionPenalty,
    };
    validateSampling(sampling);
    const maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, got ${maxTokens}`);
    const room = this.info.maxContext - promptIds.length;
    if (room < 1) throw new RangeError(`prompt of ${promptIds.length} tokens leaves no room in the context of ${this.info.maxContext}`);
    const stopIds = new Set<number>(request.stopTokenIds ?? []);
    if (!request.ignoreEos) for (const id of this.eosIds) stopIds.add(id);
    const stopStrings = (request.stopStrings ?? []).filter((s) => s.length > 0);
    if (stopStrings.length > 0 && !this.textCodec) throw new Error(`${this.info.model}: stop strings need a tokenizer (no tokenizer.json)`);
    const seq = new Sequence(
      this.nextSeqId++,
      promptIds,
      Math.min(maxTokens, room),
      sampling,
      new Rng(request.seed ?? randomSeed()),
      stopIds,
      this.textCodec ? new TextStream(this.textCodec, stopStrings) : null,
      isDeviceGreedy(sampling),
    );
    this.scheduler.add(seq);

    const channel = new Channel<GenerationEvent>();
    let resolve!: (r: GenerationResult) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<GenerationResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The stream may be consumed through `result` only: never leave an unhandled rejection.
    result.catch(() => {});
    this.streams.set(seq, { channel, resolve, reject });
    const cancel = () => {
      seq.abortRequested = true;
      this.kick();
    };
    if (request.signal) {
      if (request.signal.aborted) seq.abortRequested = true;
      else request.signal.addEventListener('abort', cancel, { once: true });
    }
    this.kick();
    return {
      result,
      cancel,
      [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
    };
  }

  /**
   * Teacher-forced logits: row t is the model's next-token logits after ids[0..t]. Runs through the
   * same step graphs and KV cache as generation (one token per step), so it checks exactly the
   * engine's math against another implementation.
   */
  async scoreTokens(ids: readonly number[]): Promise<Float32Array[]> {
    if (this.disposed) throw new Error('engine is disposed');
    const all = this.promptIds({ promptIds: ids });
    if (all.length > this.info.maxContext) throw new RangeError(`${all.length} tokens exceed the context of ${this.info.maxContext}`);
    const seq = new Sequence(this.nextSeqId++, all.slice(0, 1), all.length - 1, { ...DEFAULT_SAMPLING, temperature: 0 }, new Rng(0), new Set(), null, false);
    seq.forced = all.slice(1);
    this.scheduler.add(seq);
    const result = new Promise<GenerationResult>((resolve, reject) => this.streams.set(seq, { channel: new Channel(), resolve, reject }));
    this.kick();
    await result;
    return seq.collected;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const seq of [...this.scheduler.running, ...this.scheduler.waiting]) {
      seq.abortRequested = true;
    }
    while (this.loopRunning) await new Promise((r) => setTimeout(r, 1));
    for (const seq of [...this.scheduler.running, ...this.scheduler.waiting]) this.finish(seq, 'abort');
    for (const b of this.buckets.values()) b.dispose();
    this.buckets.clear();
    this.kv.dispose();
    this.model.free();
    if (this.ownsBackend) await this.backend.dispose();
  }

  private promptIds(request: GenerateRequest): number[] {
    if (request.prompt !== undefined && request.promptIds !== undefined) throw new Error('give either prompt or promptIds, not both');
    let ids: number[];
    if (request.promptIds !== undefined) ids = [...request.promptIds];
    else if (request.prompt !== undefined) ids = this.encode(request.prompt, request.addSpecialTokens ?? true);
    else throw new Error('a request needs prompt or promptIds');
    if (ids.length === 0) throw new Error('the prompt is empty');
    const V = this.model.config.vocabSize;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`prompt token id ${id} is outside the vocabulary 0..${V - 1}`);
    }
    return ids;
  }

  private kick(): void {
    if (this.loopRunning) return;
    this.loopRunning = true;
    // Start on a later tick so generate() returns before the first step runs.
    setImmediate(() => {
      this.loop()
        .catch((err) => {
          for (const seq of [...this.scheduler.running, ...this.scheduler.waiting]) this.fail(seq, err);
        })
        .finally(() => {
          this.loopRunning = false;
          if (!this.scheduler.idle && !this.disposed) this.kick();
        });
    });
  }

  private async loop(): Promise<void> {
    while (!this.scheduler.idle) {
      for (const seq of [...this.scheduler.running, ...this.scheduler.waiting]) {
        if (seq.abortRequested) this.finish(seq, 'abort');
      }
      if (this.scheduler.idle) break;
      const plan = this.scheduler.plan();
      if (plan.length === 0) throw new Error('internal: scheduler has waiting requests but planned nothing');
      await this.step(plan);
      // Let callers consume events, abort, and submit new requests between steps.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /**
   * Median device milliseconds of one replay of the step graph for `tokens` tokens (as last run), timed back to
   * back by the backend: the GPU time of a step without the host round trip. Null where the backend cannot time
   * graphs or no such step has run. Benchmarks only: the replays rewrite the KV slots of that step, so the engine
   * must be idle.
   */
  async timeStepGraph(tokens: number, options = { warmup: 3, iterations: 20 }): Promise<number | null> {
    if (!this.scheduler.idle) throw new Error('timeStepGraph: the engine has requests in flight');
    const bucket = this.buckets.get(nextPow2(tokens));
    if (!bucket || !this.backend.timeGraph) return null;
    return (await this.backend.timeGraph(bucket.graph, options)).medianMs;
  }

  private bucketFor(tokens: number): BucketGraph {
    const N = nextPow2(tokens);
    let b = this.buckets.get(N);
    if (!b) {
      b = new BucketGraph(this.backend, N, Math.min(N, this.info.maxBatch), this.maxBlocksPerSeq, this.model, this.kv);
      this.buckets.set(N, b);
    }
    return b;
  }

  private async step(plan: PlannedChunk[]): Promise<void> {
    const total = plan.reduce((s, p) => s + p.count, 0);
    // Building (compiling, capturing) a bucket's graph happens once; keep it out of step times.
    const tCompile = performance.now();
    const bucket = this.bucketFor(total);
    this.stepTotals.compileMs += performance.now() - tCompile;
    const t0 = performance.now();
    const entries: StepEntry[] = plan.map((p) => ({ tokens: p.seq.tokens.slice(p.start, p.start + p.count), startPos: p.start, blocks: p.seq.blocks }));
    bucket.writeInputs(entries);
    const tRun = performance.now();
    await bucket.graph.run();
    const sampling = plan.filter((p) => p.sample);
    const needLogits = sampling.some((p) => !p.seq.deviceGreedy || p.seq.forced);
    const needArgmax = sampling.some((p) => p.seq.deviceGreedy);
    const nextIds = needArgmax ? ((await this.backend.readTensor(bucket.buffers.nextIds)) as Int32Array) : null; // [S] i32
    const logits = needLogits ? ((await this.backend.readTensor(bucket.buffers.logits)) as Float32Array) : null; // [S, V] f32
    const deviceMs = performance.now() - tRun;
    const now = performance.now();
    const V = this.model.config.vocabSize;
    plan.forEach((p, s) => {
      const seq = p.seq;
      if (seq.steps === 0) seq.firstScheduledAt = t0;
      seq.steps++;
      seq.numComputed += p.count;
      if (!p.sample || seq.finished) return;
      if (seq.forced) {
        seq.collected.push(logits!.slice(s * V, (s + 1) * V));
        const next = seq.forced.shift();
        if (next === undefined) this.finish(seq, 'length');
        else seq.tokens.push(next);
        return;
      }
      const token = seq.deviceGreedy ? nextIds![s]! : sample(logits!.slice(s * V, (s + 1) * V), seq.sampling, seq.rng, seq.seen);
      this.accept(seq, token, now);
    });
    const stepMs = performance.now() - t0;
    for (const p of plan) p.seq.hostMs += stepMs - deviceMs;
    this.stepTotals.steps++;
    this.stepTotals.tokens += total;
    this.stepTotals.stepMs += stepMs;
    this.stepTotals.deviceMs += deviceMs;
  }

  /** A sampled token: record, stream, and decide whether the sequence ends. */
  private accept(seq: Sequence, token: number, now: number): void {
    if (seq.firstTokenAt === 0) seq.firstTokenAt = now;
    if (seq.stopIds.has(token)) {
      this.finish(seq, 'stop');
      return;
    }
    seq.generated.push(token);
    seq.tokens.push(token);
    seq.seen.add(token);
    const stream = this.streams.get(seq);
    const text = seq.text ? seq.text.update(seq.generated) : null;
    stream?.channel.push({ type: 'token', tokenId: token, text });
    if (seq.text?.hitStop) this.finish(seq, 'stop');
    else if (seq.generated.length >= seq.maxTokens) this.finish(seq, 'length');
  }

  private finish(seq: Sequence, reason: FinishReason): void {
    if (seq.finished) return;
    seq.finished = reason;
    seq.finishedAt = performance.now();
    this.scheduler.remove(seq);
    const stream = this.streams.get(seq);
    if (!stream) return;
    this.streams.delete(seq);
    let text: string | null = null;
    if (seq.text) {
      const rest = seq.text.flush();
      if (rest.length > 0) stream.channel.push({ type: 'text', text: rest });
      text = seq.text.finalText;
    }
    const result: GenerationResult = { tokens: [...seq.generated], text, finishReason: reason, stats: this.statsOf(seq) };
    stream.channel.push({ type: 'done', result });
    stream.channel.close();
    stream.resolve(result);
  }

  private fail(seq: Sequence, err: unknown): void {
    seq.finished = 'abort';
    this.scheduler.remove(seq);
    const stream = this.streams.get(seq);
    if (!stream) return;
    this.streams.delete(seq);
    stream.channel.fail(err);
    stream.reject(err);
  }

  private statsOf(seq: Sequence): GenerationStats {
    const s = (ms: number) => ms / 1000;
    const start = seq.arrivedAt;
    const firstToken = seq.firstTokenAt || seq.finishedAt;
    const prefillS = s(firstToken - (seq.firstScheduledAt || start));
    const n = seq.generated.length;
    const decodeS = s(seq.finishedAt - firstToken);
    return {
      prompt_tokens: seq.promptIds.length,
      completion_tokens: n,
      prefill_tokens_per_s: prefillS > 0 ? seq.promptIds.length / prefillS : 0,
      decode_tokens_per_s: n > 1 && decodeS > 0 ? (n - 1) / decodeS : 0,
      time_to_first_token_s: seq.firstTokenAt ? s(seq.firstTokenAt - start) : 0,
      time_per_output_token_s: n > 1 ? decodeS / (n - 1) : 0,
      e2e_latency_s: s(seq.finishedAt - start),
      weight_bytes: this.info.weight_bytes,
      kv_bytes: this.info.kv_bytes,
      steps: seq.steps,
      host_overhead_ms_per_step: seq.steps > 0 ? seq.hostMs / seq.steps : 0,
    };
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
