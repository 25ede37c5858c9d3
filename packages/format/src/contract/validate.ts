// Shape and dtype checks every backend runs at compile time, so a bad graph fails the same way
// (one clear message naming the node) on every backend.

import type { BackendCapabilities, DType, DeviceTensor, OpGraph, OpNode, TensorDesc } from './types.js';

export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, bf16: 2, i32: 4, u8: 1 };

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensorByteLength(desc: TensorDesc): number {
  return elementCount(desc.shape) * DTYPE_BYTES[desc.dtype];
}

/** Thrown when a backend is asked for something it does not implement. */
export class UnsupportedOpError extends Error {
  constructor(
    readonly backend: string,
    readonly what: string,
  ) {
    super(`backend '${backend}' does not support ${what}`);
    this.name = 'UnsupportedOpError';
  }
}

/** Thrown when a graph node's tensors do not fit together. */
export class GraphValidationError extends Error {
  constructor(
    readonly nodeIndex: number,
    readonly op: string,
    message: string,
  ) {
    super(`graph node ${nodeIndex} (${op}): ${message}`);
    this.name = 'GraphValidationError';
  }
}

export function validateTensorDesc(desc: TensorDesc): void {
  if (!(desc.dtype in DTYPE_BYTES)) throw new RangeError(`unknown dtype '${String(desc.dtype)}'`);
  if (!Array.isArray(desc.shape) || desc.shape.length === 0) throw new RangeError('a tensor needs a shape of rank >= 1');
  for (const d of desc.shape) {
    if (!Number.isSafeInteger(d) || d < 1) throw new RangeError(`bad dimension ${d} in shape [${desc.shape.join(', ')}]`);
  }
}

/** Validates every node of a graph against the backend's capabilities. */
export function validateGraph(graph: OpGraph, caps: BackendCapabilities, backendName: string): void {
  graph.nodes.forEach((node, i) => {
    if (!caps.ops.includes(node.op)) throw new UnsupportedOpError(backendName, `op '${node.op}'`);
    validateNode(node, i, caps, backendName);
  });
}

function validateNode(node: OpNode, i: number, caps: BackendCapabilities, backendName: string): void {
  const fail = (msg: string): never => {
    throw new GraphValidationError(i, node.op, msg);
  };
  const want = (name: string, t: DeviceTensor, dtype: DType | DType[], rank?: number) => {
    if (t?.kind !== 'tensor') fail(`${name} is not a device tensor`);
    const ok = Array.isArray(dtype) ? dtype.includes(t.dtype) : t.dtype === dtype;
    if (!ok) fail(`${name} must be ${String(dtype)}, got ${t.dtype}`);
    if (rank !== undefined && t.shape.length !== rank) fail(`${name} must have rank ${rank}, got [${t.shape.join(', ')}]`);
  };
  const dim = (t: DeviceTensor, k: number) => t.shape[k]!;
  switch (node.op) {
    case 'matmul': {
      want('x', node.x, 'f32', 2);
      want('out', node.out, 'f32', 2);
      const w = node.weight;
      if (w?.kind !== 'weight') fail('weight is not a device weight');
      const off = node.outOffset ?? 0;
      if (dim(node.x, 1) !== w.cols) fail(`x has K=${dim(node.x, 1)}, weight has K=${w.cols}`);
      if (dim(node.out, 0) !== dim(node.x, 0)) fail(`out has ${dim(node.out, 0)} rows, x has ${dim(node.x, 0)}`);
      if (!Number.isInteger(off) || off < 0 || off + w.rows > dim(node.out, 1)) fail(`columns ${off}..${off + w.rows} exceed out width ${dim(node.out, 1)}`);
      if (node.bias) {
        want('bias', node.bias, 'f32', 1);
        if (dim(node.bias, 0) !== w.rows) fail(`bias has ${dim(node.bias, 0)} entries, weight has M=${w.rows}`);
      }
      const path = node.path ?? 'auto';
      if (path !== 'auto') {
        if (!caps.weightPaths.includes(path)) throw new UnsupportedOpError(backendName, `weight path '${path}'`);
        const needs = path === 'zipgemm' || path === 'decompress+vendor' ? 'tca-tbe' : 'raw';
        if (w.storage !== needs) fail(`path '${path}' needs a ${needs} weight, this one is ${w.storage}`);
      }
      return;
    }
    case 'decompress':
      if (node.weight?.kind !== 'weight') fail('weight is not a device weight');
      want('out', node.out, 'bf16', 2);
      if (dim(node.out, 0) !== node.weight.rows || dim(node.out, 1) !== node.weight.cols) fail('out shape must equal the weight shape');
      return;
    case 'embedding':
      if (node.table?.kind !== 'weight') fail('table is not a device weight');
      want('ids', node.ids, 'i32', 1);
      want('out', node.out, 'f32', 2);
      if (dim(node.out, 0) !== dim(node.ids, 0) || dim(node.out, 1) !== node.table.cols) fail('out must be [N, D] for N ids and a [V, D] table');
      return;
    case 'rmsnorm': {
      want('x', node.x, 'f32');
      want('out', node.out, 'f32');
      want('weight', node.weight, 'f32', 1);
      if (elementCount(node.x.shape) !== elementCount(node.out.shape)) fail('out must have as many elements as x');
      const rowWidth = dim(node.x, node.x.shape.length - 1);
      const offset = node.offset ?? 0;
      const width = node.width ?? rowWidth - offset;
      if (offset < 0 || offset + width > rowWidth) fail(`columns ${offset}..${offset + width} exceed the row width ${rowWidth}`);
      if (width % dim(node.weight, 0) !== 0) fail(`width ${width} is not a multiple of the norm size ${dim(node.weight, 0)}`);
      if (!(node.eps > 0)) fail('eps must be > 0');
      return;
    }
    case 'rope':
      want('x', node.x, 'f32', 2);
      want('positions', node.positions, 'i32', 1);
      if (dim(node.positions, 0) !== dim(node.x, 0)) fail('positions must have one entry per row of x');
      if (node.headDim % 2 !== 0) fail('headDim must be even');
      if ((node.firstHead + node.numHeads) * node.headDim > dim(node.x, 1)) fail('heads exceed the row width');
      return;
    case 'kvAppend': {
      want('qkv', node.qkv, 'f32', 2);
      want('kCache', node.kCache, ['f32', 'bf16'], 4);
      want('vCache', node.vCache, ['f32', 'bf16'], 4);
      want('slots', node.slots, 'i32', 1);
      const kv = dim(node.kCache, 2) * dim(node.kCache, 3);
      if (node.kOffset + kv > dim(node.qkv, 1) || node.vOffset + kv > dim(node.qkv, 1)) fail('k/v columns exceed the row width');
      if (dim(node.slots, 0) !== dim(node.qkv, 0)) fail('slots must have one entry per row');
      if (node.kCache.shape.join() !== node.vCache.shape.join()) fail('kCache and vCache shapes differ');
      return;
    }
    case 'attention': {
      want('qkv', node.qkv, 'f32', 2);
      want('out', node.out, 'f32', 2);
      want('kCache', node.kCache, ['f32', 'bf16'], 4);
      want('vCache', node.vCache, ['f32', 'bf16'], 4);
      want('blockTables', node.blockTables, 'i32', 2);
      want('contextLens', node.contextLens, 'i32', 1);
      want('queryStarts', node.queryStarts, 'i32', 1);
      if (node.numHeads % node.numKvHeads !== 0) fail('numHeads must be a multiple of numKvHeads');
      if (dim(node.kCache, 2) !== node.numKvHeads || dim(node.kCache, 3) !== node.headDim) fail('cache must be [blocks, blockSize, Hkv, hd]');
      if (node.qOffset + node.numHeads * node.headDim > dim(node.qkv, 1)) fail('q columns exceed the row width');
      if (dim(node.out, 1) !== node.numHeads * node.headDim || dim(node.out, 0) !== dim(node.qkv, 0)) fail('out must be [N, H*hd]');
      if (dim(node.queryStarts, 0) !== dim(node.contextLens, 0) + 1) fail('queryStarts must have S+1 entries');
      if (dim(node.blockTables, 0) !== dim(node.contextLens, 0)) fail('blockTables must have S rows');
      return;
    }
    case 'siluMul':
      want('x', node.x, 'f32', 2);
      want('out', node.out, 'f32', 2);
      if (dim(node.x, 1) !== 2 * dim(node.out, 1) || dim(node.x, 0) !== dim(node.out, 0)) fail('x must be [N, 2I] for out [N, I]');
      return;
    case 'add':
      want('a', node.a, 'f32');
      want('b', node.b, 'f32');
      want('out', node.out, 'f32');
      if (node.a.shape.join() !== node.b.shape.join() || node.a.shape.join() !== node.out.shape.join()) fail('a, b and out must have one shape');
      return;
    case 'gatherRows':
      want('x', node.x, 'f32', 2);
      want('rows', node.rows, 'i32', 1);
      want('out', node.out, 'f32', 2);
      if (dim(node.out, 0) !== dim(node.rows, 0) || dim(node.out, 1) !== dim(node.x, 1)) fail('out must be [R, D]');
      return;
    case 'argmax':
      want('x', node.x, 'f32', 2);
      want('out', node.out, 'i32', 1);
      if (dim(node.out, 0) !== dim(node.x, 0)) fail('out must have one entry per row');
      return;
    default:
      throw new UnsupportedOpError(backendName, `op '${(node as { op: string }).op}'`);
  }
}
