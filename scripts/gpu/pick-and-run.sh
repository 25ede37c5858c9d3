#!/usr/bin/env bash
# One GPU-host call: A/B of two stream-schedule variants (scripts/gpu/stream-ab.sh: correctness of the candidate,
# both timed in the same binary), then the committed session steps (scripts/gpu/cuda-session.sh, ZS_STEPS, default
# "1 2 3 5") with the faster of the two as the automatic schedule (ZIPSERV_STREAM_VARIANT), so the kernel benchmark
# and the end-to-end numbers come from the schedule that won. Carry [".carry/gpu", ".carry/gemmx"] (the harness as
# packages/backend-cuda/dev/build.sh packs it; scripts/gpu/unpack-harness.sh).
# ZS_BASE (default 9) and ZS_CANDIDATE (default 8): the two variants (ZIPSERV_STREAM_VARIANT must accept the winner).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.gpu-out}
mkdir -p "$OUT"
bash scripts/gpu/unpack-harness.sh
base=${ZS_BASE:-9} cand=${ZS_CANDIDATE:-8}
ZS_VARIANTS="$base $cand" ZS_CHECK=$cand ZS_TIMEOUT=${ZS_AB_TIMEOUT:-200} OUT=$OUT bash scripts/gpu/stream-ab.sh | grep -E "correctness|rc=|FAIL|all:"
grep -E "variant geomean" "$OUT/stream-ab.log"
# "variant geomean zipgemm us: v<base> T1 v<cand> T2": the candidate wins only with 0 correctness failures.
win=$(awk -v b="$base" -v c="$cand" '/variant geomean zipgemm us:/{print ($8 + 0 < $6 + 0) ? c : b}' "$OUT/stream-ab.log")
grep -q "^correctness failures: 0" "$OUT/correct-v$cand.log" || win=$base
echo "automatic stream schedule for the session: v${win:-$base}"
ZIPSERV_STREAM_VARIANT=${win:-$base} ZS_STEPS="${ZS_STEPS:-1 2 3 5}" OUT=$OUT bash scripts/gpu/cuda-session.sh 2>&1 | tail -40
