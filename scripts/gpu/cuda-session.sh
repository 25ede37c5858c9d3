#!/usr/bin/env bash
# One GPU-host session for the CUDA backend, in priority order, each step time-boxed:
#   1. CUDA conformance (packages/backend-cuda/scripts/gpu-conformance.sh: every op vs the reference, bit-exactness)
#   2. kernel benchmark (packages/backend-cuda/scripts/gpu-kernels.sh full: correctness suite, every path, N 1-2048,
#      plus the N <= 16 timings with programmatic dependent launch off)
#   3. `zipserv bench e2e` on synthetic:llama-3-8b (batch 1/8/32, 128-token prompt, 256 new tokens)
#   4. a per-kernel time profile of a few decode steps of synthetic:llama-3-8b with cuBLAS weights (ncu)
#   5. the runtime vs Hugging Face transformers (packages/runtime/scripts/gpu-e2e.sh; needs
#      node packages/runtime/scripts/bundle-e2e.mjs here first)
#   6. where a batch-1 decode step's time goes: `zipserv bench e2e` (batch 1, zipgemm and cuBLAS weights) with
#      the graph-level switches flipped one at a time (ZIPSERV_NO_FUSE, ZIPSERV_NO_OP_PDL, ZIPSERV_NO_PDL) and with
#      op families left out of the captured graph (ZIPSERV_GRAPH_SKIP: timing only, the tokens are then garbage)
# Here first: pnpm build && bash scripts/gpu/bundle.sh && bash packages/backend-cuda/dev/build.sh
# Host (device tool): bash scripts/gpu/cuda-session.sh   with carry [".carry/gpu", ".carry/gemm"]
# Everything lands in $OUT/cuda-session.tgz (the device tool brings back at most 8 files) and a summary on stdout.
# ZS_STEPS: which steps to run (default "1 2 3 4"); ZS_PROFILE_WEIGHTS: weights of step 4 (default vendor);
# ZS_PROFILE_PROMPT: its prompt length (default 4; the decode steps' attention then sees that much context).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.gpu-out}
work=$(mktemp -d)
mkdir -p "$OUT"
log="$work/session.log"
source scripts/gpu/step.sh
steps=" ${ZS_STEPS:-1 2 3 4} "
{
  echo "git $(cat .carry/gpu/GIT_SHA 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
} | tee "$log"
[[ $steps == *" 1 "* ]] && step conformance 150 env OUT="$work" bash packages/backend-cuda/scripts/gpu-conformance.sh
[[ $steps == *" 2 "* ]] && step kernels 330 env OUT="$work" ZS_VARIANTS=4 bash packages/backend-cuda/scripts/gpu-kernels.sh full
[[ $steps == *" 3 "* ]] && step bench-e2e 300 bash scripts/gpu/host-run.sh zipserv bench e2e --model synthetic:llama-3-8b --backend cuda \
  --batch 1,8,32 --prompt-len 128 --gen 256 --json "$work/e2e-$(gpu_tag).json"
if [[ $steps == *" 4 "* ]]; then
  # ncu replays each kernel once with one metric; the summary aggregates launches by kernel name.
  step profile 150 bash scripts/gpu/host-run.sh ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
    --graph-profiling node --target-processes all -o "$work/decode-profile" -f \
    node .carry/gpu/zipserv.mjs run synthetic:llama-3-8b --prompt-ids "$(seq -s, 1 ${ZS_PROFILE_PROMPT:-4})" -n 4 --temperature 0 \
    --backend cuda --weights "${ZS_PROFILE_WEIGHTS:-vendor}" --json
  bash scripts/gpu/host-run.sh ncu --import "$work/decode-profile.ncu-rep" --print-summary per-kernel --csv \
    >"$work/decode-profile.csv" 2>>"$log" || true
fi
[[ $steps == *" 5 "* ]] && step runtime-vs-hf 150 env OUT="$work" bash packages/runtime/scripts/gpu-e2e.sh
if [[ $steps == *" 6 "* ]]; then
  small_ops="embedding,rmsnorm,rope,kvAppend,rope+kvAppend,attention,siluMul,gatherRows,argmax"
  # ZS_ABLATIONS: the variants, space-separated ("all" = every switch at its default).
  for variant in ${ZS_ABLATIONS:-all ZIPSERV_NO_FUSE=1 ZIPSERV_NO_OP_PDL=1 ZIPSERV_NO_PDL=1 ZIPSERV_GRAPH_SKIP=matmul \
    ZIPSERV_GRAPH_SKIP=$small_ops ZIPSERV_GRAPH_SKIP=attention}; do
    name="${variant//[^A-Za-z0-9_]/_}"
    step "ablate" 120 env ${variant/#all/ZIPSERV_ABLATION=all} bash scripts/gpu/host-run.sh zipserv bench e2e --model synthetic:llama-3-8b \
      --backend cuda --batch 1 --weights zipgemm,vendor --prompt-len 128 --gen 64 --json "$work/ablate-$name.json"
    bash scripts/gpu/host-run.sh node -e '
      const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
      for (const x of r.rows) console.log(`ablation ${process.argv[2].padEnd(40)} ${x.weights.padEnd(8)} ${x.decode_tokens_per_s.toFixed(1)} tok/s, graph ${x.graph_ms_per_step?.toFixed(2)} ms/step`);
    ' "$work/ablate-$name.json" "$variant" 2>>"$log" | tee -a "$log"
  done
fi
grep -E "total:|correctness failures|^ *[0-9]+x[0-9]+ +(1|8|16) |decode_tokens|FAIL|^ablation" "$log" | head -80
printf '%s\n' "${summary[@]}"
tar -C "$work" -czf "$OUT/cuda-session.tgz" . && cp "$log" "$OUT/session.log"
