// Turns one validated graph node into a closure over the backend's typed arrays. Shapes are fixed
// at compile time; tensor contents are read when the closure runs, so writeTensor between runs is
// seen by the next run. Checks that depend on tensor contents (ids, slots, rows, block tables) run
// every time and throw a RangeError naming the offending value.

import type { DeviceTensor, DeviceWeight, OpNode } from '@zipserv/format';
import { decodeMatrix, decodeRows } from '../codec/index.js';
import { referenceArgmax } from '../reference/argmax.js';
import { referencePagedAttention } from '../reference/attention.js';
import { type PagedKvCache, referenceKvAppend } from '../reference/paged-kv.js';
import { referenceRmsNorm } from '../reference/rmsnorm.js';
import { referenceRope, ropeInvFreq } from '../reference/rope.js';
import { referenceSiluMul } from '../reference/activation.js';
import type { HandleTable, TensorData } from './handles.js';
import { denseProduct, roundToBf16, weightValues, writeMatmulOutput, zipgemmProduct } from './matmul.js';

export interface CompiledNode {
  run(): void;
  /** Every handle the node uses, rechecked before each run (a handle freed after compile fails). */
  handles: (DeviceTensor | DeviceWeight)[];
}

export interface NodeCompileOptions {
  /** 'bf16' rounds matmul activations to BF16 before the product (emulates such backends). */
  matmulInputPrecision: 'f32' | 'bf16';
}

export function compileNode(node: OpNode, index: number, table: HandleTable, options: NodeCompileOptions): CompiledNode {
  const handles: (DeviceTensor | DeviceWeight)[] = [];
  const role = (name: string) => `${name} of graph node ${index} (${node.op})`;
  const tensor = (t: DeviceTensor, name: string): TensorData => {
    handles.push(t);
    return table.tensor(t, role(name)).data;
  };
  const f32 = (t: DeviceTensor, name: string) => tensor(t, name) as Float32Array;
  const i32 = (t: DeviceTensor, name: string) => tensor(t, name) as Int32Array;
  const weight = (w: DeviceWeight, name: string) => {
    handles.push(w);
    return table.weight(w, role(name)).weight;
  };
  const cache = (t: DeviceTensor, name: string): PagedKvCache => {
    const [blocks, blockSize, numKvHeads, headDim] = t.shape as [number, number, number, number];
    return { data: tensor(t, name) as Float32Array | Uint16Array, blocks, blockSize, numKvHeads, headDim };
  };
  // The graph runner prefixes the graph label and node index.
  const fail = (message: string): never => {
    throw new RangeError(message);
  };

  switch (node.op) {
    case 'matmul': {
      const w = weight(node.weight, 'weight');
      const x = f32(node.x, 'x'); // [N, K]
      const out = f32(node.out, 'out'); // [N, W]
      const bias = node.bias ? f32(node.bias, 'bias') : null; // [M]
      const n = node.x.shape[0]!;
      const path = node.path ?? 'auto';
      const fused = path === 'zipgemm' || (path === 'auto' && w.storage === 'tca-tbe');
      const epilogue = { out, outWidth: node.out.shape[1]!, outOffset: node.outOffset ?? 0, bias, accumulate: node.accumulate ?? false };
      const acc = new Float64Array(n * w.rows); // [N, M] f64, reused by every run
      return {
        handles,
        run() {
          const input = options.matmulInputPrecision === 'bf16' ? roundToBf16(x) : x;
          acc.fill(0);
          if (fused && w.storage === 'tca-tbe') zipgemmProduct(w, input, n, acc);
          else denseProduct(input, weightValues(w), n, w.cols, w.rows, acc);
          writeMatmulOutput(acc, n, w.rows, epilogue);
        },
      };
    }
    case 'decompress': {
      const w = weight(node.weight, 'weight');
      const out = tensor(node.out, 'out') as Uint16Array; // [M, K] bf16
      return {
        handles,
        run() {
          if (w.storage === 'tca-tbe') {
            decodeMatrix(w.matrix, out);
          } else {
            // The top half of each f32 word, read as bits: NaN payloads survive (JS numbers may not keep them).
            const valueBits = new Uint32Array(w.values.buffer, w.values.byteOffset, w.values.length);
            for (let i = 0; i < out.length; i++) out[i] = valueBits[i]! >>> 16;
          }
        },
      };
    }
    case 'embedding': {
      const embeddings = weight(node.table, 'table'); // [V, D]
      const ids = i32(node.ids, 'ids'); // [N]
      const out = f32(node.out, 'out'); // [N, D]
      const d = embeddings.cols;
      const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length); // widen BF16 by bits, NaN payloads included
      return {
        handles,
        run() {
          const rowBits = new Uint16Array(d); // [D] bf16
          for (let n = 0; n < ids.length; n++) {
            const id = ids[n]!;
            if (id < 0 || id >= embeddings.rows) fail(`id ${id} at row ${n} is outside the table's ${embeddings.rows} rows`);
            if (embeddings.storage === 'raw') {
              out.set(embeddings.values.subarray(id * d, (id + 1) * d), n * d);
            } else {
              decodeRows(embeddings.matrix, id, 1, rowBits); // only the needed row
              for (let i = 0; i < d; i++) outBits[n * d + i] = rowBits[i]! << 16;
            }
          }
        },
      };
    }
    case 'rmsnorm': {
      const x = f32(node.x, 'x');
      const w = f32(node.weight, 'weight'); // [D]
      const out = f32(node.out, 'out');
      const rowWidth = node.x.shape[node.x.shape.length - 1]!;
      const rows = x.length / rowWidth;
      const region = { offset: node.offset ?? 0, width: node.width ?? rowWidth - (node.offset ?? 0) };
      return { handles, run: () => referenceRmsNorm(x, rows, rowWidth, w, node.eps, out, region) };
    }
    case 'rope': {
      const x = f32(node.x, 'x'); // [N, C]
      const positions = i32(node.positions, 'positions'); // [N]
      const invFreq = ropeInvFreq(node.headDim, node.theta, node.scaling); // [hd/2] f32
      const [rows, rowWidth] = node.x.shape as [number, number];
      return { handles, run: () => referenceRope(x, rows, rowWidth, positions, node.firstHead, node.numHeads, node.headDim, invFreq) };
    }
    case 'kvAppend': {
      const qkv = f32(node.qkv, 'qkv'); // [N, C]
      const kCache = cache(node.kCache, 'kCache');
      const vCache = cache(node.vCache, 'vCache');
      const slots = i32(node.slots, 'slots'); // [N]
      const [rows, rowWidth] = node.qkv.shape as [number, number];
      return { handles, run: () => referenceKvAppend(qkv, rows, rowWidth, node.kOffset, node.vOffset, kCache, vCache, slots) };
    }
    case 'attention': {
      const args = {
        qkv: f32(node.qkv, 'qkv'), // [N, C]
        rows: node.qkv.shape[0]!,
        rowWidth: node.qkv.shape[1]!,
        qOffset: node.qOffset,
        kCache: cache(node.kCache, 'kCache'),
        vCache: cache(node.vCache, 'vCache'),
        blockTables: i32(node.blockTables, 'blockTables'), // [S, maxBlocksPerSeq]
        maxBlocksPerSeq: node.blockTables.shape[1]!,
        contextLens: i32(node.contextLens, 'contextLens'), // [S]
        queryStarts: i32(node.queryStarts, 'queryStarts'), // [S + 1]
        out: f32(node.out, 'out'), // [N, H*hd]
        numHeads: node.numHeads,
        scale: node.scale,
      };
      return { handles, run: () => referencePagedAttention(args) };
    }
    case 'siluMul': {
      const x = f32(node.x, 'x'); // [N, 2I]
      const out = f32(node.out, 'out'); // [N, I]
      const [rows, intermediate] = node.out.shape as [number, number];
      return { handles, run: () => referenceSiluMul(x, rows, intermediate, out) };
    }
    case 'add': {
      const a = f32(node.a, 'a');
      const b = f32(node.b, 'b');
      const out = f32(node.out, 'out');
      return {
        handles,
        run() {
          for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
        },
      };
    }
    case 'gatherRows': {
      const x = f32(node.x, 'x'); // [N, D]
      const rows = i32(node.rows, 'rows'); // [R]
      const out = f32(node.out, 'out'); // [R, D]
      const [n, d] = node.x.shape as [number, number];
      return {
        handles,
        run() {
          for (let r = 0; r < rows.length; r++) {
            const row = rows[r]!;
            if (row < 0 || row >= n) fail(`row ${row} at index ${r} is outside x's ${n} rows`);
            out.set(x.subarray(row * d, (row + 1) * d), r * d);
          }
        },
      };
    }
    case 'argmax': {
      const x = f32(node.x, 'x'); // [R, V]
      const out = i32(node.out, 'out'); // [R]
      const [rows, cols] = node.x.shape as [number, number];
      return { handles, run: () => referenceArgmax(x, rows, cols, out) };
    }
  }
}
