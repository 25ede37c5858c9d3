// Model directories: compress, decompress, verify, inspect, and reading tensors for inference.
export { compressModel, type CompressOptions, type CompressSummary } from './compress.js';
export { decompressModel, type DecompressOptions, type DecompressSummary } from './decompress.js';
export { verifyModel, type VerifyOptions, type VerifyProblem, type VerifyReport } from './verify.js';
export { inspectModel, type InspectReport } from './inspect.js';
export { ModelReader, type ModelReaderOptions, type ModelTensor } from './reader.js';
export { ModelError } from './errors.js';
export { removeTempOutputsSync } from './atomic-dir.js';
export { toFloat32 } from './convert.js';
export type { ModelPhase, ModelProgress, ProgressCallback } from './progress.js';
export type { FileSummary, TensorSummary } from './summary.js';
