// ZipGEMM kernels for Hopper (sm_90/sm_90a): fused decompress-GEMM on TCA-TBE weights, its
// bit-identical dense twin, standalone decompression and the embedding-row gather.
//
// API notes for the addon (keep this block current when the API changes):
// - All functions are capture-safe: no allocation, no synchronisation, no host reads of device
//   memory; errors (bad shape, misaligned pointer, launch failure) are returned, never thrown.
// - zipgemm/dense_gemm NEED a workspace of gemm_workspace_bytes(M, K, N) bytes (N * roundUp64(K) * 2
//   + 128: the activations converted once per call to bf16); a null or smaller workspace returns
//   cudaErrorInvalidValue. The workspace must not be used by anything else until the call's kernels
//   have finished (stream order), and one workspace must not serve two streams at once.
// - Each call is two launches on the stream: the f32->bf16 activation pre-pass, then the GEMM as its
//   programmatic dependent (PDL; the GEMM streams weights while the pre-pass runs). Both are capturable.
// - Split-K partials are reduced through distributed shared memory inside one thread-block cluster
//   in a fixed order, so results are deterministic and zipgemm == dense_gemm bit for bit.
// - Device arrays must be 16-byte aligned (cudaMalloc gives 256): bitmaps, signMantissa, outliers.
//   x and the dense weight may have any alignment (slower paths when misaligned or K % 8 != 0).
// - K is limited to 8192 global tiles (524288 columns): 8 split-K CTAs x 1024 tiles each.
// - v4 (2026-11): the *_tuned functions gained (workspace, workspaceBytes) before the tuning.
// - v5: GemmTuning gained `variant` (last field, default 0 = the default schedule: aggregate
//   initialisers of the first three fields still compile); gemm_default_tuning gained a variant overload.
//   The first call of a schedule queries its occupancy once (cudaOccupancyMaxActiveBlocksPerMultiprocessor,
//   cached) to size split-K; no allocation or synchronisation.
// - v5 results: the automatic schedule is v4's except for thin grids (see GemmTuning::variant).
// - choose_gemm_path: zipgemm for N <= 64, else decompress + cuBLAS (H100 measurements in
//   bench/results/zipgemm-h100.md).
// - v6: variants 10/11 (the wide schedule, zipgemm_wide.cu) need no workspace either; the automatic schedule
//   uses v10 at N = 17-64 (17-32 only where M < 4K).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

/** One TCA-TBE matrix (SPEC.md, packages/format) in device memory. */
struct TcaTbeDeviceMatrix {
  int rows, cols, expBase;
  const uint64_t* bitmaps;        // [tiles, 64, 3] u64
  const uint8_t* signMantissa;    // [tiles, 4096] u8
  const uint8_t* outliers;        // [outlierBytes] u8, per-tile segments padded to 16 bytes
  const uint32_t* outlierOffsets; // [tiles + 1] u32
};

// y[n*ldy + outOffset + m] (+)= sum_k bf16(x[n*K+k]) * W[m,k] (+ bias[m]);  x: [N, K] f32 (rounded to
// bf16 RNE on load), y f32, bias [M] f32 or null. accumulate: add to y instead of overwriting.
cudaError_t zipgemm(const TcaTbeDeviceMatrix& w, const float* x, int N, float* y, int ldy, int outOffset,
                    const float* bias, bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s);
// Same schedule on a dense [M, K] bf16 row-major weight: bit-identical to zipgemm.
cudaError_t dense_gemm(const uint16_t* w, int M, int K, const float* x, int N, float* y, int ldy, int outOffset,
                       const float* bias, bool accumulate, void* workspace, size_t workspaceBytes, cudaStream_t s);
/** Workspace bytes zipgemm and dense_gemm need (bf16 activations; the split-K reduction lives in shared memory). */
size_t gemm_workspace_bytes(int M, int K, int N);
/** out: [M, K] bf16 row-major, bit-exact. */
cudaError_t tca_decompress(const TcaTbeDeviceMatrix& w, uint16_t* out, cudaStream_t s);
/** out: [count, K] f32, row rowIds[i] of W (embedding gather). An id outside 0..rows-1 yields a NaN row. */
cudaError_t tca_decompress_rows(const TcaTbeDeviceMatrix& w, const int32_t* rowIds, int count, float* out,
                                cudaStream_t s);

enum class GemmPath : int { Zipgemm = 0, DecompressVendor = 1 };
/** Dispatch rule for a compressed weight (the addon and the benchmark use the same rule). */
GemmPath choose_gemm_path(int M, int K, int N);

// ---- tuning (benchmark / tests): explicit schedule; 0 fields mean "choose automatically" ----
struct GemmTuning {
  int splitK = 0;   // CTAs per 64-row band along K (cluster size), 1..8
  int stages = 0;   // shared-memory ring depth, 2..6
  int nTile = 0;    // tokens per CTA: 8, 16, 32 or 64 (N > nTile: several CTAs per band)
  // Kernel schedule, 0 = automatic (4, or 6 for grids under 2 CTAs per SM at nTile 8): 4 = v4 (4 consumer
  // warps, per-warp outlier ranks); 5 = 8 consumer warps (two K tiles in flight per band) with outlier ranks
  // computed by the producer warp; 6 = 8 consumer warps with per-warp ranks; 7 = 4 consumer warps with
  // producer ranks. Variants 5 and 7 need >= 3 / 2 stages (raised silently). 8/9 = the stream schedule
  // (zipgemm_stream.cu: a warp per 64x64 tile, nTile 8/16, registers for 3/4 CTAs per SM; the default at
  // N <= 16); 10/11 = the wide schedule (zipgemm_wide.cu: one decode per CTA shared
  // by nTile 16/32/64 tokens; 11 = one more CTA per SM; 10 is the default at N = 17-64, 17-32 only where
  // M < 4K). Every variant's dense twin is bit-identical to its own zipgemm (zipgemm and dense_gemm with the
  // same tuning resolve identically).
  int variant = 0;
};
cudaError_t zipgemm_tuned(const TcaTbeDeviceMatrix& w, const float* x, int N, float* y, int ldy, int outOffset,
                          const float* bias, bool accumulate, void* workspace, size_t workspaceBytes,
                          const GemmTuning& t, cudaStream_t s);
cudaError_t dense_gemm_tuned(const uint16_t* w, int M, int K, const float* x, int N, float* y, int ldy, int outOffset,
                             const float* bias, bool accumulate, void* workspace, size_t workspaceBytes,
                             const GemmTuning& t, cudaStream_t s);
/** The schedule zipgemm would use (fields filled). */
GemmTuning gemm_default_tuning(int M, int K, int N);
/** The schedule zipgemm_tuned would use for `variant` (0: the default) with the other fields automatic. */
GemmTuning gemm_default_tuning(int M, int K, int N, int variant);

// ---- benchmark (dev/zipgemm_bench_main.cu and the addon's `bench`) ----
struct GemmBenchOptions {
  std::string shapes = "llama3-8b,llama3-70b";  // preset names or "MxK" items, comma-separated
  std::string ns = "1,2,4,8,16,32,64,128,512";  // token counts
  int repeats = 7;              // timed repeats (median reported)
  int itersPerRepeat = 20;      // launches per timed repeat (cold L2: rotating weight copies)
  uint64_t seed = 0;            // 0: fresh seed from the clock
  bool correctness = true;      // run the correctness suite first
  bool sweep = false;           // also time split-K/stage schedules for each case (and each of `variants`)
  bool timings = true;          // false: correctness suite only
  int variant = 0;              // GemmTuning::variant of the timed zipgemm/dense and the suite (0: default)
  std::string variants;         // e.g. "4,5,6,7": suite and per-case timings of each, "best variant" summary
  std::string jsonPath;         // write the JSON here too (empty: only return it)
  std::string command;          // recorded in the JSON (how the run was started)
  std::string gitSha;           // recorded in the JSON
};
/** Runs correctness checks + timings; returns the JSON document; prints a table to stdout. */
std::string run_gemm_bench(const GemmBenchOptions& options);
/** Same, options as a flat JSON object with the GemmBenchOptions field names. */
std::string run_gemm_bench_json(const std::string& optionsJson);
