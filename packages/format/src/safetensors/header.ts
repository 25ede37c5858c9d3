// The safetensors header: parse + strict validation, and the inverse (build a padded header).
// Pure TypeScript (no Node APIs), so browsers and Deno can use it on fetched bytes.
//
// File layout: u64 LE headerLength N | N bytes of UTF-8 JSON (may end in spaces) | data.
// data_offsets are relative to the start of the data, i.e. file offset 8 + N.

import { type SafetensorsDType, dtypeBytes, isSafetensorsDType } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** Headers larger than this are refused: real ones are a few MB at most (hundreds of thousands of tensors). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Bytes of the little-endian u64 header length that starts every file. */
export const HEADER_LENGTH_BYTES = 8;
/** The reserved header key holding string -> string metadata. */
export const METADATA_KEY = '__metadata__';

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In header order. */
  tensors: SafetensorsTensorInfo[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks the u64 header length read from the first 8 bytes of a file of `fileSize` bytes.
 * Returns it as a number; throws naming `file` when it cannot be a real header.
 */
export function checkHeaderLength(lengthLE: bigint, fileSize: number, file: string): number {
  if (fileSize < HEADER_LENGTH_BYTES) {
    throw new SafetensorsError(file, `not a safetensors file: ${fileSize} bytes, shorter than the 8-byte header length`);
  }
  if (lengthLE > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(file, `not a safetensors file: header length ${lengthLE} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(lengthLE);
  if (n > fileSize - HEADER_LENGTH_BYTES) {
    throw new SafetensorsError(file, `truncated or not a safetensors file: header length ${n} but only ${fileSize - HEADER_LENGTH_BYTES} bytes follow`);
  }
  if (n < 2) throw new SafetensorsError(file, `not a safetensors file: header length ${n} is too small for a JSON object`);
  return n;
}

/**
 * Parses and validates the N header bytes of a file whose data section holds `dataBytes` bytes.
 * Checks: UTF-8, a JSON object, string->string metadata, known dtypes, integer shapes,
 * data_offsets matching dtype x shape, and tensors tiling the data section exactly (no overlap, no
 * hole, nothing past the end, nothing after the last tensor).
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataBytes: number, file: string): SafetensorsHeader {
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8 (not a safetensors file?)');
  }
  if (!text.startsWith('{')) throw new SafetensorsError(file, 'header does not start with a JSON object (not a safetensors file?)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(file, `header is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError(file, 'header is not a JSON object');
  }

  // Null prototypes: a key named "__proto__" must stay an ordinary key.
  const metadata: Record<string, string> = Object.create(null);
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new SafetensorsError(file, `${METADATA_KEY} must be an object of strings`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(file, `${METADATA_KEY}["${k}"] must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.push(parseTensorInfo(name, value, dataBytes, file));
  }
  checkTiling(tensors, dataBytes, file);
  return { metadata, tensors };
}

function parseTensorInfo(name: string, value: unknown, dataBytes: number, file: string): SafetensorsTensorInfo {
  const where = `tensor "${name}"`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsError(file, `${where}: entry must be an object`);
  }
  const entry = value as Record<string, unknown>;
  for (const key of Object.keys(entry)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
      throw new SafetensorsError(file, `${where}: unexpected key "${key}"`);
    }
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isSafetensorsDType(dtype)) throw new SafetensorsError(file, `${where}: unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(file, `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new SafetensorsError(file, `${where}: data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  let bytes = dtypeBytes(dtype);
  for (const d of shape as number[]) {
    bytes *= d;
    if (!Number.isSafeInteger(bytes)) throw new SafetensorsError(file, `${where}: shape ${JSON.stringify(shape)} is absurdly large`);
  }
  if (end < begin) throw new SafetensorsError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end - begin !== bytes) {
    throw new SafetensorsError(file, `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, ${dtype} ${JSON.stringify(shape)} needs ${bytes}`);
  }
  if (end > dataBytes) {
    throw new SafetensorsError(file, `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes; truncated file?)`);
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [begin, end] };
}

/** Tensors must cover [0, dataBytes) exactly once. */
function checkTiling(tensors: readonly SafetensorsTensorInfo[], dataBytes: number, file: string): void {
  const byOffset = [...tensors].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  let previous: SafetensorsTensorInfo | undefined;
  for (const t of byOffset) {
    const [begin, end] = t.dataOffsets;
    if (begin < cursor) {
      throw new SafetensorsError(file, `tensor "${t.name}" [${begin}, ${end}] overlaps tensor "${previous?.name}"`);
    }
    if (begin > cursor) {
      throw new SafetensorsError(file, `hole of ${begin - cursor} bytes in the data before tensor "${t.name}" (offset ${cursor})`);
    }
    cursor = end;
    previous = t;
  }
  if (cursor !== dataBytes) {
    throw new SafetensorsError(file, `${dataBytes - cursor} bytes after the last tensor are not described by the header`);
  }
}

/** What a writer needs to know of a tensor before its bytes arrive. */
export interface SafetensorsTensorLayout {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
}

export interface BuiltSafetensorsHeader {
  /** The header JSON, padded with spaces so that 8 + length is a multiple of 8. */
  headerBytes: Uint8Array;
  /** In the order given; data is laid out in this order without gaps. */
  tensors: SafetensorsTensorInfo[];
  dataBytes: number;
}

/**
 * Builds a header for tensors laid out back to back in the given order. `minHeaderBytes` pads the
 * JSON with spaces up to at least that length (lets a writer reserve room for metadata that is only
 * known once the data is written).
 */
export function buildSafetensorsHeader(
  layout: readonly SafetensorsTensorLayout[],
  metadata?: Readonly<Record<string, string>>,
  minHeaderBytes = 0,
): BuiltSafetensorsHeader {
  const json: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) json[METADATA_KEY] = metadata;
  const tensors: SafetensorsTensorInfo[] = [];
  const seen = new Set<string>();
  let cursor = 0;
  for (const t of layout) {
    if (t.name === METADATA_KEY) throw new Error(`tensor name "${METADATA_KEY}" is reserved`);
    if (seen.has(t.name)) throw new Error(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!isSafetensorsDType(t.dtype)) throw new Error(`tensor "${t.name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    let bytes = dtypeBytes(t.dtype);
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new Error(`tensor "${t.name}": bad shape ${JSON.stringify(t.shape)}`);
      bytes *= d;
    }
    const info: SafetensorsTensorInfo = { name: t.name, dtype: t.dtype, shape: [...t.shape], dataOffsets: [cursor, cursor + bytes] };
    json[t.name] = { dtype: info.dtype, shape: info.shape, data_offsets: info.dataOffsets };
    tensors.push(info);
    cursor += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  let length = Math.max(text.length, minHeaderBytes);
  length += (8 - ((HEADER_LENGTH_BYTES + length) % 8)) % 8;
  const headerBytes = new Uint8Array(length).fill(0x20);
  headerBytes.set(text);
  return { headerBytes, tensors, dataBytes: cursor };
}

/** The 8-byte little-endian length prefix of a header of `headerLength` bytes. */
export function headerLengthPrefix(headerLength: number): Uint8Array {
  const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLength), true);
  return prefix;
}
