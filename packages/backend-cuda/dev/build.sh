#!/usr/bin/env bash
# Builds the standalone kernel harness and the host-codec test on this machine (no GPU needed).
# Output: /work/main/.carry/gemm/ (ignored by git; carried to the GPU host by scripts/gpu-kernels.sh), and the harness
# xz-packed into .carry/gemmx/ for runs that also carry .carry/gpu (scripts/gpu/unpack-harness.sh unpacks it there).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT_DIR:-$(cd "$here/../.." && pwd)/.carry/gemm}"
mkdir -p "$out"
arch="-gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=sm_90"
flags="-O3 -std=c++17 -I$here/native --expt-relaxed-constexpr -lineinfo"
g="$here/native/gemm"
nvcc $arch $flags -cudart static -o "$out/zipgemm_bench" "$here/dev/zipgemm_bench_main.cu" "$g/zipgemm.cu" "$g/zipgemm_stream.cu" "$g/zipgemm_wide.cu" \
  "$g/decompress.cu" "$g/bench_core.cu" "$g/host_codec.cpp" -ldl -lpthread
g++ -O2 -std=c++17 -I"$here/native" -o "$out/host_codec_test" "$here/dev/host_codec_test.cpp" "$g/host_codec.cpp" -lpthread
git -C "$here/../.." rev-parse HEAD > "$out/GIT_SHA" 2>/dev/null || true
if [[ -z "${OUT_DIR:-}" ]] && command -v xz >/dev/null; then
  packed="$(dirname "$out")/gemmx"
  mkdir -p "$packed"
  xz -T2 -6 -c "$out/zipgemm_bench" > "$packed/zipgemm_bench.xz"
  cp "$out/GIT_SHA" "$packed/" 2>/dev/null || true
fi
echo "built $out/zipgemm_bench $out/host_codec_test"
