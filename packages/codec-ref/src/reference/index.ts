// Float64 reference math (the oracle every backend is checked against) and test-data helpers.
export { type Rng, createRng, hashString, randomSeed } from './prng.js';
export { allBf16Patterns, randomBf16Bits, randomBf16Exponents, randomBf16Normal, randomBf16WithOutliers, randomF32, randomInts } from './random-data.js';
export { countNaN, firstBitMismatch, firstNaN, hasNaN, maxAbsDifference, relativeError } from './metrics.js';
export { type ReferenceGemmOptions, referenceGemm } from './gemm.js';
export { type RmsNormRegion, referenceRmsNorm } from './rmsnorm.js';
export { referenceRope, ropeAngle, ropeInvFreq } from './rope.js';
export { type PagedKvCache, readCache, referenceKvAppend, writeCache } from './paged-kv.js';
export { type PagedAttentionArgs, referencePagedAttention } from './attention.js';
export { referenceSiluMul, silu } from './activation.js';
export { referenceArgmax } from './argmax.js';
