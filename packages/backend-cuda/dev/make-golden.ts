// Writes TS-encoder golden data for the C++ host encoder test (dev/host_codec_test.cpp):
// every 2-D BF16 tensor of a safetensors file, encoded by @zipserv/codec-ref's encodeMatrix.
// Record (little-endian): u32 rows, cols, expBase, outlierBytes; bits u16[rows*cols];
// bitmaps u64[tiles*192]; signMantissa u8[tiles*4096]; outliers u8[outlierBytes]; offsets u32[tiles+1].
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeMatrix } from '@zipserv/codec-ref';

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error('usage: make-golden <model.safetensors> <out.bin>');
const file = readFileSync(input);
const headerLen = Number(file.readBigUInt64LE(0));
const header = JSON.parse(file.subarray(8, 8 + headerLen).toString('utf8')) as Record<
  string,
  { dtype: string; shape: number[]; data_offsets: [number, number] }
>;
const parts: Buffer[] = [];
let count = 0;
for (const [name, t] of Object.entries(header)) {
  if (name === '__metadata__' || t.dtype !== 'BF16' || t.shape.length !== 2) continue;
  const [rows, cols] = t.shape as [number, number];
  const start = 8 + headerLen + t.data_offsets[0];
  const raw = Buffer.from(file.subarray(start, start + rows * cols * 2)); // copy: aligned
  const bits = new Uint16Array(raw.buffer, raw.byteOffset, rows * cols); // [rows, cols] bf16
  const m = encodeMatrix(bits, rows, cols);
  const head = Buffer.alloc(16);
  head.writeUInt32LE(rows, 0);
  head.writeUInt32LE(cols, 4);
  head.writeUInt32LE(m.expBase, 8);
  head.writeUInt32LE(m.outliers.length, 12);
  parts.push(head, raw, Buffer.from(m.bitmaps.buffer, m.bitmaps.byteOffset, m.bitmaps.byteLength));
  parts.push(Buffer.from(m.signMantissa), Buffer.from(m.outliers));
  parts.push(Buffer.from(m.outlierOffsets.buffer, m.outlierOffsets.byteOffset, m.outlierOffsets.byteLength));
  count++;
}
writeFileSync(output, Buffer.concat(parts));
console.log(`wrote ${count} tensors to ${output}`);
