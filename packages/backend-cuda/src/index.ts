// @zipserv/backend-cuda: the CUDA backend behind ZipservBackendV1.
export { type CudaBackendOptions, type CudaCompiledGraph, type CudaWeightPath, createCudaBackend, cudaUnavailableReason, probeCuda, supportedWeightPaths } from './cuda-backend.js';
export { cudaBackendProvider } from './provider.js';
export { type NativeProbe, addonPath } from './addon.js';
export { type GemmBenchOptions, runGemmBench } from './bench-gemm.js';
