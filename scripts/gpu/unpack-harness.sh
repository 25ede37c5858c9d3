#!/usr/bin/env bash
# On the GPU host: unpacks the kernel harness that packages/backend-cuda/dev/build.sh packed into .carry/gemmx
# (xz, ~1 MiB instead of ~16: .carry/gpu and the harness together pass the device tool's 64 MiB carry limit) into
# .carry/gemm, where the GPU scripts look for it. Does nothing when only .carry/gemm was carried.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -f .carry/gemmx/zipgemm_bench.xz ]] || exit 0
mkdir -p .carry/gemm
xz -dc .carry/gemmx/zipgemm_bench.xz > .carry/gemm/zipgemm_bench
chmod +x .carry/gemm/zipgemm_bench
cp .carry/gemmx/GIT_SHA .carry/gemm/
