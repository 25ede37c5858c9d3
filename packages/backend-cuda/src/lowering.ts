// Lowers validated contract nodes to the addon's flat node records: buffer/weight ids plus the
// dimensions each kernel needs (native/addon/graph.cpp reads them and re-checks buffer sizes).

import { type DeviceTensor, type DeviceWeight, GraphValidationError, type OpNode, elementCount } from '@zipserv/format';
import type { NativeNode } from './addon.js';

const NONE = -1;
const last = (t: DeviceTensor): number => t.shape[t.shape.length - 1]!;

/** Every handle a node reads or writes (for the live/ownership checks before compile and run). */
export function nodeHandles(node: OpNode): (DeviceTensor | DeviceWeight)[] {
  switch (node.op) {
    case 'matmul':
      return node.bias ? [node.x, node.weight, node.out, node.bias] : [node.x, node.weight, node.out];
    case 'decompress':
      return [node.weight, node.out];
    case 'embedding':
      return [node.ids, node.table, node.out];
    case 'rmsnorm':
      return [node.x, node.weight, node.out];
    case 'rope':
      return [node.x, node.positions];
    case 'kvAppend':
      return [node.qkv, node.kCache, node.vCache, node.slots];
    case 'attention':
      return [node.qkv, node.kCache, node.vCache, node.blockTables, node.contextLens, node.queryStarts, node.out];
    case 'siluMul':
      return [node.x, node.out];
    case 'add':
      return [node.a, node.b, node.out];
    case 'gatherRows':
      return [node.x, node.rows, node.out];
    case 'argmax':
      return [node.x, node.out];
  }
}

export function lowerNode(node: OpNode, index: number): NativeNode {
  switch (node.op) {
    case 'matmul':
      return {
        op: 'matmul',
        x: node.x.id,
        weight: node.weight.id,
        out: node.out.id,
        bias: node.bias ? node.bias.id : NONE,
        N: node.x.shape[0]!, // x [N, K] f32
        K: node.x.shape[1]!,
        M: node.weight.rows, // weight [M, K]
        ldy: node.out.shape[1]!, // out [N, W] f32
        outOffset: node.outOffset ?? 0,
        accumulate: node.accumulate === true,
        path: node.path ?? 'auto',
      };
    case 'decompress':
      return { op: 'decompress', weight: node.weight.id, out: node.out.id };
    case 'embedding':
      return { op: 'embedding', ids: node.ids.id, table: node.table.id, out: node.out.id, N: node.ids.shape[0]! };
    case 'rmsnorm': {
      const rowWidth = last(node.x); // x [..., C] f32: rows of C
      const offset = node.offset ?? 0;
      return {
        op: 'rmsnorm',
        x: node.x.id,
        weight: node.weight.id,
        out: node.out.id,
        rows: elementCount(node.x.shape) / rowWidth,
        rowWidth,
        offset,
        width: node.width ?? rowWidth - offset,
        groupSize: node.weight.shape[0]!, // weight [D] f32
        eps: node.eps,
      };
    }
    case 'rope':
      return {
        op: 'rope',
        x: node.x.id,
        positions: node.positions.id,
        N: node.x.shape[0]!, // x [N, C] f32
        rowWidth: node.x.shape[1]!,
        firstHead: node.firstHead,
        numHeads: node.numHeads,
        headDim: node.headDim,
        theta: node.theta,
        scaling: node.scaling ? { ...node.scaling } : null,
      };
    case 'kvAppend': {
      const [blocks, blockSize, hkv, hd] = node.kCache.shape as [number, number, number, number];
      sameCacheDtype(index, node);
      return {
        op: 'kvAppend',
        qkv: node.qkv.id,
        kCache: node.kCache.id,
        vCache: node.vCache.id,
        slots: node.slots.id,
        N: node.qkv.shape[0]!, // qkv [N, C] f32
        rowWidth: node.qkv.shape[1]!,
        kOffset: node.kOffset,
        vOffset: node.vOffset,
        numSlots: blocks * blockSize, // cache [blocks, blockSize, Hkv, hd]
        kvWidth: hkv * hd,
        bf16: node.kCache.dtype === 'bf16',
      };
    }
    case 'attention': {
      const [numBlocks, blockSize] = node.kCache.shape as [number, number, number, number];
      sameCacheDtype(index, node);
      return {
        op: 'attention',
        qkv: node.qkv.id,
        kCache: node.kCache.id,
        vCache: node.vCache.id,
        blockTables: node.blockTables.id,
        contextLens: node.contextLens.id,
        queryStarts: node.queryStarts.id,
        out: node.out.id,
        N: node.qkv.shape[0]!, // qkv [N, C] f32
        rowWidth: node.qkv.shape[1]!,
        qOffset: node.qOffset,
        numBlocks,
        blockSize,
        maxBlocksPerSeq: node.blockTables.shape[1]!, // blockTables [S, maxBlocksPerSeq] i32
        S: node.contextLens.shape[0]!,
        H: node.numHeads,
        Hkv: node.numKvHeads,
        hd: node.headDim,
        scale: node.scale,
        bf16: node.kCache.dtype === 'bf16',
      };
    }
    case 'siluMul':
      return { op: 'siluMul', x: node.x.id, out: node.out.id, N: node.out.shape[0]!, I: node.out.shape[1]! };
    case 'add':
      return { op: 'add', a: node.a.id, b: node.b.id, out: node.out.id, n: elementCount(node.out.shape) };
    case 'gatherRows':
      return {
        op: 'gatherRows',
        x: node.x.id,
        rows: node.rows.id,
        out: node.out.id,
        xRows: node.x.shape[0]!, // x [N, D] f32
        D: node.x.shape[1]!,
        R: node.rows.shape[0]!,
      };
    case 'argmax':
      return { op: 'argmax', x: node.x.id, out: node.out.id, R: node.x.shape[0]!, V: node.x.shape[1]! };
  }
}

/** K and V caches of one layer are read by one kernel instantiation: they must share a dtype. */
function sameCacheDtype(index: number, node: { op: string; kCache: DeviceTensor; vCache: DeviceTensor }): void {
  if (node.kCache.dtype !== node.vCache.dtype) {
    throw new GraphValidationError(index, node.op, `kCache is ${node.kCache.dtype} but vCache is ${node.vCache.dtype}`);
  }
}
