// safetensors: header parsing/building (pure TS) and streaming file I/O (Node).
export * from './dtypes.js';
export * from './errors.js';
export * from './header.js';
export * from './reader.js';
export * from './writer.js';
