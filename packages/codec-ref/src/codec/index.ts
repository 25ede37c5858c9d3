// TCA-TBE v1 CPU codec: exact encoder and decoder, window choice, sizes, and a worker-thread pool.

export { chooseWindow, windowFromHistogram, type ExponentWindow } from './window.js';
export { encodeMatrix, tcaTbeEncodedBytes } from './encode.js';
export { decodeMatrix, decodeRows } from './decode.js';
export { tcaTbeStats, type TcaTbeStats } from './stats.js';
export { EncoderPool, type EncoderPoolOptions } from './pool.js';
