// One forward step of the model as a contract OpGraph, built once per token-count bucket and run
// many times. Between runs only the small i32 inputs are rewritten (ids, positions, cache slots,
// block tables, context lengths, query starts, gather rows).
//
// Per layer:  rmsnorm -> q|k|v matmuls into one packed buffer (+bias) -> [q/k per-head rmsnorm]
//             -> rope(q and k heads) -> kvAppend -> attention -> o_proj (accumulate into x)
//             -> rmsnorm -> gate|up matmuls packed -> siluMul -> down_proj (accumulate into x)
// Then:       gatherRows(last row of each sequence) -> final rmsnorm -> LM head -> argmax.

import type { CompiledGraph, DeviceTensor, OpNode, ZipservBackendV1 } from '@zipserv/format';
import type { PagedKvCache } from '../kv/paged-kv-cache.js';
import type { DeviceModel } from '../model/device-model.js';

/** Buffers of one bucket. N = token rows (bucket size), S = sequence slots. */
export interface BucketBuffers {
  ids: DeviceTensor; // [N] i32
  positions: DeviceTensor; // [N] i32
  slots: DeviceTensor; // [N] i32 (-1 = padding row)
  blockTables: DeviceTensor; // [S, maxBlocksPerSeq] i32
  contextLens: DeviceTensor; // [S] i32
  queryStarts: DeviceTensor; // [S + 1] i32
  gatherRows: DeviceTensor; // [S] i32
  x: DeviceTensor; // [N, D] f32 residual stream
  h: DeviceTensor; // [N, D] f32 normed input of a block
  qkv: DeviceTensor; // [N, (H + 2*Hkv)*hd] f32
  attn: DeviceTensor; // [N, H*hd] f32
  gateUp: DeviceTensor; // [N, 2I] f32
  act: DeviceTensor; // [N, I] f32
  last: DeviceTensor; // [S, D] f32
  logits: DeviceTensor; // [S, V] f32
  nextIds: DeviceTensor; // [S] i32 argmax
}

/** One sequence's share of a step: `tokens` at positions startPos.. of the sequence. */
export interface StepEntry {
  tokens: readonly number[];
  startPos: number;
  blocks: readonly number[];
}

export class BucketGraph {
  readonly buffers: BucketBuffers;
  readonly graph: CompiledGraph;
  readonly nodeCount: number;
  // Host-side staging for the i32 inputs, reused every step.
  private readonly hostIds: Int32Array; // [N]
  private readonly hostPositions: Int32Array; // [N]
  private readonly hostSlots: Int32Array; // [N]
  private readonly hostBlockTables: Int32Array; // [S * maxBlocksPerSeq]
  private readonly hostContextLens: Int32Array; // [S]
  private readonly hostQueryStarts: Int32Array; // [S + 1]
  private readonly hostGatherRows: Int32Array; // [S]

  constructor(
    private readonly backend: ZipservBackendV1,
    readonly tokens: number,
    readonly seqSlots: number,
    private readonly maxBlocksPerSeq: number,
    model: DeviceModel,
    private readonly kv: PagedKvCache,
  ) {
    const c = model.config;
    const N = tokens;
    const S = seqSlots;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const created: DeviceTensor[] = [];
    const make = (dtype: 'f32' | 'i32', shape: number[]) => {
      const t = backend.createTensor({ dtype, shape });
      created.push(t);
      return t;
    };
    try {
      this.buffers = {
        ids: make('i32', [N]),
        positions: make('i32', [N]),
        slots: make('i32', [N]),
        blockTables: make('i32', [S, maxBlocksPerSeq]),
        contextLens: make('i32', [S]),
        queryStarts: make('i32', [S + 1]),
        gatherRows: make('i32', [S]),
        x: make('f32', [N, c.hiddenSize]),
        h: make('f32', [N, c.hiddenSize]),
        qkv: make('f32', [N, qDim + 2 * kvDim]),
        attn: make('f32', [N, qDim]),
        gateUp: make('f32', [N, 2 * c.intermediateSize]),
        act: make('f32', [N, c.intermediateSize]),
        last: make('f32', [S, c.hiddenSize]),
        logits: make('f32', [S, c.vocabSize]),
        nextIds: make('i32', [S]),
      };
      const nodes = buildStepNodes(model, kv, this.buffers);
      this.nodeCount = nodes.length;
      this.graph = backend.compileGraph({ nodes, label: `step N=${N} S=${S}` });
    } catch (err) {
      for (const t of created) backend.free(t);
      throw err;
    }
    this.hostIds = new Int32Array(N);
    this.hostPositions = new Int32Array(N);
    this.hostSlots = new Int32Array(N);
    this.hostBlockTables = new Int32Array(S * maxBlocksPerSeq);
    this.hostContextLens = new Int32Array(S);
    this.hostQueryStarts = new Int32Array(S + 1);
    this.hostGatherRows = new Int32Array(S);
  }

  /** Writes this step's inputs. Entry s owns rows queryStarts[s]..; rows past the last are padding. */
  writeInputs(entries: readonly StepEntry[]): void {
    const N = this.tokens;
    const S = this.seqSlots;
    if (entries.length > S) throw new Error(`internal: ${entries.length} sequences in a step of ${S} slots`);
    this.hostIds.fill(0);
    this.hostPositions.fill(0);
    this.hostSlots.fill(-1);
    this.hostBlockTables.fill(0);
    this.hostContextLens.fill(0);
    this.hostGatherRows.fill(0);
    let row = 0;
    for (let s = 0; s < entries.length; s++) {
      const e = entries[s]!;
      this.hostQueryStarts[s] = row;
      if (e.tokens.length === 0) throw new Error('internal: empty step entry');
      if (row + e.tokens.length > N) throw new Error(`internal: ${row + e.tokens.length} tokens in a step of ${N} rows`);
      for (let i = 0; i < e.tokens.length; i++) {
        const pos = e.startPos + i;
        this.hostIds[row] = e.tokens[i]!;
        this.hostPositions[row] = pos;
        this.hostSlots[row] = this.kv.slot(e.blocks, pos);
        row++;
      }
      const ctx = e.startPos + e.tokens.length;
      const blocksNeeded = Math.ceil(ctx / this.kv.blockSize);
      if (blocksNeeded > e.blocks.length || blocksNeeded > this.maxBlocksPerSeq) throw new Error(`internal: sequence at ${ctx} tokens holds ${e.blocks.length} blocks`);
      for (let b = 0; b < blocksNeeded; b++) this.hostBlockTables[s * this.maxBlocksPerSeq + b] = e.blocks[b]!;
      this.hostContextLens[s] = ctx;
      this.hostGatherRows[s] = row - 1;
    }
    for (let s = entries.length; s <= S; s++) this.hostQueryStarts[s] = row;
    const b = this.buffers;
    this.backend.writeTensor(b.ids, this.hostIds);
    this.backend.writeTensor(b.positions, this.hostPositions);
    this.backend.writeTensor(b.slots, this.hostSlots);
    this.backend.writeTensor(b.blockTables, this.hostBlockTables);
    this.backend.writeTensor(b.contextLens, this.hostContextLens);
    this.backend.writeTensor(b.queryStarts, this.hostQueryStarts);
    this.backend.writeTensor(b.gatherRows, this.hostGatherRows);
  }

  dispose(): void {
    this.graph.dispose();
    for (const t of Object.values(this.buffers)) this.backend.free(t);
  }
}

export function buildStepNodes(model: DeviceModel, kv: PagedKvCache, b: BucketBuffers): OpNode[] {
  const c = model.config;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const eps = c.rmsNormEps;
  const rope = { theta: c.ropeTheta, ...(c.ropeScaling ? { scaling: c.ropeScaling } : {}) };
  const nodes: OpNode[] = [{ op: 'embedding', ids: b.ids, table: model.embed, out: b.x }];
  const mm = (x: DeviceTensor, weight: DeviceModel['embed'], out: DeviceTensor, extra: { outOffset?: number; bias?: DeviceTensor; accumulate?: boolean } = {}): OpNode => ({
    op: 'matmul',
    x,
    weight,
    out,
    path: model.pathFor(weight, x.shape[0]!),
    ...(extra.outOffset ? { outOffset: extra.outOffset } : {}),
    ...(extra.bias ? { bias: extra.bias } : {}),
    ...(extra.accumulate ? { accumulate: true } : {}),
  });
  model.layers.forEach((L, l) => {
    nodes.push({ op: 'rmsnorm', x: b.x, weight: L.inputNorm, out: b.h, eps });
    if ('qkv' in L.attnIn) {
      nodes.push(mm(b.h, L.attnIn.qkv, b.qkv, { bias: L.qkvBias }));
    } else {
      nodes.push(mm(b.h, L.attnIn.q, b.qkv, { bias: L.qBias }));
      nodes.push(mm(b.h, L.attnIn.k, b.qkv, { outOffset: qDim, bias: L.kBias }));
      nodes.push(mm(b.h, L.attnIn.v, b.qkv, { outOffset: qDim + kvDim, bias: L.vBias }));
    }
    if (L.qNorm && L.kNorm) {
      nodes.push({ op: 'rmsnorm', x: b.qkv, weight: L.qNorm, out: b.qkv, eps, offset: 0, width: qDim });
      nodes.push({ op: 'rmsnorm', x: b.qkv, weight: L.kNorm, out: b.qkv, eps, offset: qDim, width: kvDim });
    }
    // q heads and k heads are adjacent in qkv with one head size: one rope op covers both.
    nodes.push({ op: 'rope', x: b.qkv, positions: b.positions, firstHead: 0, numHeads: c.numHeads + c.numKvHeads, headDim: c.headDim, ...rope });
    nodes.push({ op: 'kvAppend', qkv: b.qkv, kOffset: qDim, vOffset: qDim + kvDim, kCache: kv.kCaches[l]!, vCache: kv.vCaches[l]!, slots: b.slots });
    nodes.push({
      op: 'attention',
      qkv: b.qkv,
      qOffset: 0,
      kCache: kv.kCaches[l]!,
      vCache: kv.vCaches[l]!,
      blockTables: b.blockTables,
      contextLens: b.contextLens,
      queryStarts: b.queryStarts,
      out: b.attn,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      scale: 1 / Math.sqrt(c.headDim),
    });
    nodes.push(mm(b.attn, L.o, b.x, { bias: L.oBias, accumulate: true }));
    nodes.push({ op: 'rmsnorm', x: b.x, weight: L.postNorm, out: b.h, eps });
    if ('gateUp' in L.mlpIn) {
      nodes.push(mm(b.h, L.mlpIn.gateUp, b.gateUp, { bias: L.gateUpBias }));
    } else {
      nodes.push(mm(b.h, L.mlpIn.gate, b.gateUp, { bias: L.gateBias }));
      nodes.push(mm(b.h, L.mlpIn.up, b.gateUp, { outOffset: I, bias: L.upBias }));
    }
    nodes.push({ op: 'siluMul', x: b.gateUp, out: b.act });
    nodes.push(mm(b.act, L.down, b.x, { bias: L.downBias, accumulate: true }));
  });
  // Final norm on the gathered rows only: the norm is per row, so gather-then-norm is the same math.
  nodes.push({ op: 'gatherRows', x: b.x, rows: b.gatherRows, out: b.last });
  nodes.push({ op: 'rmsnorm', x: b.last, weight: model.finalNorm, out: b.last, eps });
  nodes.push(mm(b.last, model.lmHead, b.logits));
  nodes.push({ op: 'argmax', x: b.logits, out: b.nextIds });
  return nodes;
}
