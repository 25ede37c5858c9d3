#!/usr/bin/env bash
# One GPU-host session for the end-to-end checks, in priority order, each step time-boxed:
#   1. runtime vs Hugging Face transformers (logits at every position, greedy), CUDA backend
#   2. WebGPU conformance + kernel tests (Dawn on the NVIDIA Vulkan driver)
#   3. `zipserv run --backend webgpu` on the fixture (greedy ids)
#   4. WebGPU ZipGEMM vs its dense twin, Llama-3-8B shapes
#   5. `zipserv bench e2e` on synthetic:llama-3-8b: zipgemm vs dense vs vendor (cuBLAS) weights
# Here first: pnpm build && pnpm build:native && bash packages/backend-webgpu/scripts/gpu-host.sh prepare
#             && node packages/runtime/scripts/bundle-e2e.mjs   (fills .carry/gpu)
# Host (device tool): bash scripts/gpu/suite.sh   with carry [".carry/gpu", ".gl"]
# Writes at most 8 files into $OUT (the device tool's limit): suite.log and the JSON of each step.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.gpu-out}
mkdir -p "$OUT"
export ZIPSERV_WEBGPU_OPTIONS="${ZIPSERV_WEBGPU_OPTIONS:-backend=vulkan enable-dawn-features=vulkan_enable_f16_on_nvidia disable-dawn-features=timestamp_quantization}"
log="$OUT/suite.log"
hr=scripts/gpu/host-run.sh
{
  echo "git $(cat .carry/gpu/GIT_SHA 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
} | tee "$log"
source scripts/gpu/step.sh
step runtime-e2e 150 bash packages/runtime/scripts/gpu-e2e.sh
step webgpu-tests 100 bash "$hr" node .carry/gpu/backend-webgpu-tests.mjs --json "$OUT/webgpu-tests.json"
step webgpu-run 45 bash -c "bash $hr zipserv run models/stories260K --prompt-ids 1 -n 16 --temperature 0 --backend webgpu --json > '$OUT/webgpu-run.json'"
step webgpu-bench 120 bash "$hr" node .carry/gpu/webgpu-bench.mjs --shapes llama3-8b --n 1,4,16,64 --out "$OUT/webgpu-bench.json"
step bench-e2e 170 bash "$hr" zipserv bench e2e --model synthetic:llama-3-8b --backend cuda --batch 1,8 --prompt-len 128 --gen 64 --json "$OUT/e2e-$(gpu_tag).json"
grep -vE '^Warning|^ - While|^    at ' "$log" | grep -E '^\||^==|FAIL|fail|bar|tok/s|zipgemm|dense|vendor|greedy|logits|passed' | tail -60
printf '%s\n' "${summary[@]}"
