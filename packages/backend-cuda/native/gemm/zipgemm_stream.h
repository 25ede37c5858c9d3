// ZipGEMM v8/v9 ("stream" schedule, GemmTuning::variant 8/9) and v10/v11 ("wide", variant 10/11): internal interface
// between zipgemm.cu (dispatch, validation) and zipgemm_stream.cu / zipgemm_wide.cu (the kernels). Not part of the
// addon's API.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gemm/zipgemm.h"

namespace zipserv::gemm::stream {

/** Token tile (8 or 16) for N and a requested tile (0: automatic). */
int token_tile(int N, int requested);
/** Split-K (cluster size, 1..8) the schedule uses when none is requested; identical for zip and dense.
 *  occ: resident CTAs per SM the kernel's registers are capped for (v8: 3 at nTile 8, 2 at 16; v9: one more). */
int default_split(int M, int K, int N, int nTile, int occ);
/** Launches the fused kernel (w) or, when w is null, its dense twin on `dense` [M, K]; the other arguments as
 *  zipgemm() takes them; nTile 8 or 16, splitK 1..8. */
cudaError_t launch(const TcaTbeDeviceMatrix* w, const uint16_t* dense, int M, int K, const float* x, int N, float* y,
                   int ldy, int outOffset, const float* bias, bool accumulate, int nTile, int splitK, int occ,
                   cudaStream_t s);

}  // namespace zipserv::gemm::stream

namespace zipserv::gemm::wide {

/** Token tile (16, 32 or 64) for N and a requested tile (0: automatic). */
int token_tile(int N, int requested);
/** Split-K (cluster size, 1..8) when none is requested; identical for zip and dense.
 *  variant: 10 (registers for 4 CTAs per SM at nTile 16/32, 3 at 64) or 11 (one more CTA per SM). */
int default_split(int M, int K, int N, int nTile, int variant);
/** As stream::launch, for the wide schedule (one decode per CTA shared by up to 64 tokens). */
cudaError_t launch(const TcaTbeDeviceMatrix* w, const uint16_t* dense, int M, int K, const float* x, int N, float* y,
                   int ldy, int outOffset, const float* bias, bool accumulate, int nTile, int splitK, int variant,
                   cudaStream_t s);

}  // namespace zipserv::gemm::wide
