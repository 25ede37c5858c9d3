#!/usr/bin/env bash
# GPU host: the runtime's end-to-end check against Hugging Face transformers, in one go.
#   here:  node packages/runtime/scripts/bundle-e2e.mjs        (writes .carry/gpu/runtime-e2e.mjs)
#          plus scripts/gpu/bundle.sh (node binary, CUDA addon)  -> carry [".carry/gpu"]
#   host:  bash packages/runtime/scripts/gpu-e2e.sh
# Writes $OUT/hf-reference.json (HF logits + greedy) and $OUT/runtime-e2e.json (our results and the
# comparison); prints a table; exits non-zero when any check fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${OUT:-$ROOT/.gpu-out}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/zipserv-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
BUNDLE="$ROOT/.carry/gpu/runtime-e2e.mjs"
[ -f "$BUNDLE" ] || { echo "missing $BUNDLE: run node packages/runtime/scripts/bundle-e2e.mjs first"; exit 1; }

python3 "$ROOT/packages/runtime/scripts/gpu-e2e-check.py" --fixture "$ROOT/models/stories260K" --out "$WORK"
cp "$WORK/hf-reference.json" "$OUT/hf-reference.json"

if [ -f "$ROOT/scripts/gpu/host-run.sh" ]; then
  bash "$ROOT/scripts/gpu/host-run.sh" node "$BUNDLE" --ref "$WORK/hf-reference.json" --out "$OUT/runtime-e2e.json" --backend cuda
else
  # Without the team's host runner: node on PATH, the addon from a local native build.
  ADDON="$ROOT/packages/backend-cuda/build/Release/zipserv_cuda.node"
  [ -n "${ZIPSERV_CUDA_ADDON:-}" ] || { [ -f "$ADDON" ] && export ZIPSERV_CUDA_ADDON="$ADDON"; } || true
  node "$BUNDLE" --ref "$WORK/hf-reference.json" --out "$OUT/runtime-e2e.json" --backend cuda
fi
