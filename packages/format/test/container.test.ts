import { describe, expect, it } from 'vitest';
import {
  CONTAINER_FORMAT,
  ContainerError,
  type ContainerTensorRecord,
  type SafetensorsHeader,
  type TcaTbeMatrix,
  base64ToBytes,
  buildContainerMetadata,
  buildSafetensorsHeader,
  bytesToBase64,
  crc32,
  parseContainer,
  parseSafetensorsHeader,
  sha256Hex,
  tcaComponentBytes,
  tcaComponentLayout,
  tcaComponentNames,
  tcaMatrixFromComponents,
  tcaTbeFixedBytes,
  tcaTbeGeometry,
} from '../src/index.js';

/** Bitwise CRC-32 (reflected, poly 0xEDB88320): the textbook definition zlib implements. */
function crc32Reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid matrix without an encoder: every element in window (code 0), so no outliers. */
function windowOnlyMatrix(rows: number, cols: number, expBase: number): TcaTbeMatrix {
  const { tiles } = tcaTbeGeometry(rows, cols);
  return {
    rows,
    cols,
    expBase,
    bitmaps: new BigUint64Array(tiles * 192), // [tiles, 64, 3] u64
    signMantissa: new Uint8Array(tiles * 4096).map((_, i) => (i * 31) & 0xff), // [tiles, 4096] u8
    outliers: new Uint8Array(0),
    outlierOffsets: new Uint32Array(tiles + 1), // [tiles+1] u32
  };
}

const sha = (s: string) => sha256Hex(new TextEncoder().encode(s));

/** An original header (two tensors) and its container header, as a compressor would write them. */
function sampleContainer(edit?: (records: Map<string, ContainerTensorRecord>, stored: { name: string; dtype: any; shape: number[] }[]) => void) {
  const original = buildSafetensorsHeader([
    { name: 'w', dtype: 'BF16', shape: [65, 130] },
    { name: 'norm', dtype: 'F32', shape: [4] },
  ]);
  const fileBytes = 8 + original.headerBytes.length + original.dataBytes;
  const records = new Map<string, ContainerTensorRecord>([
    ['w', { dtype: 'BF16', shape: [65, 130], storage: 'tca-tbe', sha256: sha('w'), crc32: 123, expBase: 120 }],
    ['norm', { dtype: 'F32', shape: [4], storage: 'raw', sha256: sha('norm'), crc32: 0xffffffff }],
  ]);
  const stored: { name: string; dtype: any; shape: number[] }[] = [
    ...tcaComponentLayout('w', 65, 130, 32).map((l) => ({ ...l, shape: [...l.shape] })),
    { name: 'norm', dtype: 'F32', shape: [4] },
  ];
  edit?.(records, stored);
  const metadata = buildContainerMetadata({ header: original.headerBytes, fileBytes, sha256: sha('file') }, [...records]);
  const built = buildSafetensorsHeader(stored, metadata);
  return { header: parseSafetensorsHeader(built.headerBytes, built.dataBytes, 'c.safetensors'), original, metadata };
}

function containerError(header: SafetensorsHeader): string {
  try {
    parseContainer(header, 'c.safetensors');
  } catch (err) {
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as Error).message.startsWith('c.safetensors: ')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('checksums and base64', () => {
  it('crc32 matches the textbook definition, also chunk by chunk', () => {
    const data = new Uint8Array(10_000).map((_, i) => (i * 2654435761) >>> 13);
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(data)).toBe(crc32Reference(data));
    expect(crc32(data.subarray(3000), crc32(data.subarray(0, 3000)))).toBe(crc32Reference(data));
    expect(crc32(new Uint8Array(0))).toBe(0);
    // A zero-length component in the middle of a chain must not reset it.
    expect(crc32(data.subarray(10), crc32(new Uint8Array(0), crc32(data.subarray(0, 10))))).toBe(crc32Reference(data));
  });
  it('sha256 of the empty string', () => {
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
  it('base64 round-trips every byte value and rejects junk', () => {
    const all = new Uint8Array(70_000).map((_, i) => i & 0xff);
    expect(base64ToBytes(bytesToBase64(all))).toEqual(all);
    expect(bytesToBase64(new Uint8Array([0x7b, 0x7d, 0x20]))).toBe('e30g');
    expect(() => base64ToBytes('e30g!')).toThrow(/base64/);
    expect(() => base64ToBytes('e30')).toThrow(/base64/);
  });
});

describe('TCA-TBE components', () => {
  it('names, layouts and sizes follow SPEC section 6', () => {
    expect(tcaComponentNames('m.w')).toEqual(['m.w.__tca.bitmaps', 'm.w.__tca.sign_mantissa', 'm.w.__tca.outliers', 'm.w.__tca.outlier_offsets']);
    // 65 x 130 pads to 128 x 192: 2 x 3 = 6 tiles.
    expect(tcaComponentLayout('w', 65, 130, 48)).toEqual([
      { name: 'w.__tca.bitmaps', dtype: 'U64', shape: [6 * 192] },
      { name: 'w.__tca.sign_mantissa', dtype: 'U8', shape: [6 * 4096] },
      { name: 'w.__tca.outliers', dtype: 'U8', shape: [48] },
      { name: 'w.__tca.outlier_offsets', dtype: 'U32', shape: [7] },
    ]);
    expect(tcaComponentLayout('w', 1, 1, 0)[2]!.shape).toEqual([0]);
    expect(tcaTbeFixedBytes(65, 130)).toBe(6 * 1536 + 6 * 4096 + 7 * 4);
  });
  it('matrix -> bytes -> matrix is exact, aligned or not', () => {
    const m = windowOnlyMatrix(65, 130, 7);
    const parts = tcaComponentBytes(m);
    expect(parts.map((p) => p.byteLength)).toEqual([6 * 1536, 6 * 4096, 0, 28]);
    const back = tcaMatrixFromComponents(65, 130, 7, parts as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]);
    expect(back).toEqual(m);
    // Concatenated in one buffer at odd offsets, as read from a file: copied to aligned arrays.
    const joined = new Uint8Array(1 + parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 1;
    const views = parts.map((p) => {
      joined.set(p, at);
      const v = joined.subarray(at, at + p.byteLength);
      at += p.byteLength;
      return v;
    });
    expect(tcaMatrixFromComponents(65, 130, 7, views as [Uint8Array, Uint8Array, Uint8Array, Uint8Array])).toEqual(m);
  });
  it('refuses components that do not fit the shape', () => {
    const parts = tcaComponentBytes(windowOnlyMatrix(64, 64, 0));
    expect(() => tcaMatrixFromComponents(64, 128, 0, parts as any)).toThrow(RangeError);
    expect(() => tcaMatrixFromComponents(64, 64, 250, parts as any)).toThrow(/expBase/);
    const odd = [parts[0]!.subarray(0, 12), parts[1], parts[2], parts[3]];
    expect(() => tcaMatrixFromComponents(64, 64, 0, odd as any)).toThrow(/whole u64/);
  });
});

describe('container metadata', () => {
  it('round-trips and indexes the stored tensors', () => {
    const { header, original, metadata } = sampleContainer();
    expect(metadata['zipserv.format']).toBe(CONTAINER_FORMAT);
    const source = JSON.parse(metadata['zipserv.source']!);
    expect(Object.keys(source)).toEqual(['header', 'fileBytes', 'sha256']);
    expect(JSON.parse(metadata['zipserv.tensors']!).norm).toEqual({ dtype: 'F32', shape: [4], storage: 'raw', sha256: sha('norm'), crc32: 0xffffffff });
    const index = parseContainer(header, 'c.safetensors');
    expect(index.source.header).toEqual(original.headerBytes);
    expect(index.original.tensors.map((t) => t.name)).toEqual(['w', 'norm']);
    const [w, norm] = index.tensors;
    expect(w).toMatchObject({ name: 'w', storage: 'tca-tbe', expBase: 120, originalBytes: 65 * 130 * 2, matrix: { rows: 65, cols: 130, outlierBytes: 32 } });
    expect(w!.storedBytes).toBe(tcaTbeFixedBytes(65, 130) + 32);
    expect(w!.stored.map((s) => s.name)).toEqual(tcaComponentNames('w'));
    expect(w!.originalOffsets).toEqual([0, 65 * 130 * 2]);
    expect(norm).toMatchObject({ name: 'norm', storage: 'raw', originalBytes: 16, storedBytes: 16, matrix: null });
  });

  it('refuses containers whose metadata and tensors disagree', () => {
    const plain = buildSafetensorsHeader([{ name: 'x', dtype: 'U8', shape: [1] }], { format: 'pt' });
    expect(containerError(parseSafetensorsHeader(plain.headerBytes, 1, 'c'))).toMatch(/not a zipserv container/);
    const c = sampleContainer();
    const withMeta = (patch: Record<string, string>) => ({ ...c.header, metadata: { ...c.header.metadata, ...patch } });
    expect(containerError(withMeta({ 'zipserv.format': 'zipserv-container/9' }))).toMatch(/unsupported container format "zipserv-container\/9"/);
    expect(containerError(withMeta({ 'zipserv.source': '{' }))).toMatch(/"zipserv.source" is not valid JSON/);
    expect(containerError(withMeta({ 'zipserv.source': '{"header":"%%","fileBytes":1,"sha256":"x"}' }))).toMatch(/not valid base64/);
    expect(containerError(withMeta({ 'zipserv.tensors': '[]' }))).toMatch(/must be a JSON object/);
    expect(containerError(sampleContainer((r) => r.delete('norm')).header)).toMatch(/tensor "norm" of the original file is missing/);
    expect(containerError(sampleContainer((r) => r.set('extra', r.get('norm')!)).header)).toMatch(/lists "extra"/);
    expect(containerError(sampleContainer((r) => (r.get('w')!.shape = [130, 65])).header)).toMatch(/recorded as BF16 \[130,65\]/);
    expect(containerError(sampleContainer((r) => (r.get('w')!.expBase = 250)).header)).toMatch(/tensor "w": expBase 250/);
    expect(containerError(sampleContainer((r) => Object.assign(r.get('norm')!, { storage: 'tca-tbe', expBase: 1 })).header)).toMatch(/needs a 2-D BF16 tensor/);
    expect(containerError(sampleContainer((r) => (r.get('norm')!.sha256 = 'abc')).header)).toMatch(/sha256 must be/);
    expect(containerError(sampleContainer((_, s) => s.splice(1, 1)).header)).toMatch(/"w.__tca.sign_mantissa" is missing/);
    expect(containerError(sampleContainer((_, s) => (s[0]!.shape = [5])).header)).toMatch(/"w.__tca.bitmaps" is U64 \[5\], expected U64 \[1152\]/);
    expect(containerError(sampleContainer((_, s) => (s[2]!.shape = [33])).header)).toMatch(/outlier stream of 33 bytes/);
    expect(containerError(sampleContainer((_, s) => s.push({ name: 'stray', dtype: 'U8', shape: [1] })).header)).toMatch(/"stray" belongs to no original/);
    expect(containerError(sampleContainer((_, s) => (s[4]!.dtype = 'F16')).header)).toMatch(/"norm" is F16 \[4\], expected F32 \[4\]/);
  });
});
