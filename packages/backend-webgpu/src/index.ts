// @zipserv/backend-webgpu: ZipGEMM and every op of ZipservBackendV1 in WGSL, for browsers, Deno and
// Node (Dawn through the `webgpu` package).

export { WebGpuBackend, createWebGpuBackend } from './backend.js';
export type { WebGpuBackendOptions } from './device.js';
export { findGpu, NoWebGpuError, parseDawnOptions, WEBGPU_OPTIONS_ENV, type FindGpuOptions } from './gpu.js';
export { webgpuBackendProvider } from './provider.js';
export { ropeInverseFrequencies } from './kernels/rope.js';
export { chooseSplitK, tokensPerPass } from './kernels/zipgemm.js';
